"""`python -m perpflow.cli ...` runs the `perpflow` command."""

import sys

from perpflow.cli.app import main

sys.exit(main())
