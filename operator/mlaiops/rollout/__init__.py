"""Rollout logic of ModelDeployments, pure: canary steps, analysis judging, rollback decisions."""
