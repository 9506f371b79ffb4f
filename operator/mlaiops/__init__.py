"""mlaiops: one operator for the loop from model metrics to rollback, retrain and remediation."""

__version__ = "0.1.0"

GROUP = "mlaiops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
