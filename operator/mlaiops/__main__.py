"""`python -m mlaiops` is the same as the `mlaiops` console script."""

import sys

from mlaiops.cli import main

sys.exit(main())
