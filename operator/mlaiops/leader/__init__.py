"""Leader election over a coordination.k8s.io/v1 Lease: one replica acts, the others stand by."""
