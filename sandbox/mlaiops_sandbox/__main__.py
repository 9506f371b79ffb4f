"""`python -m mlaiops_sandbox`: the same as the `mlaiops-sandbox` command."""

import sys

from mlaiops_sandbox.cli import main

sys.exit(main())
