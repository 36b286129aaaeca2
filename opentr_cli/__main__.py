"""`python -m opentr_cli ...` is the `opentr` command (the dev server starts its worker this way)."""

import sys

from opentr_cli.cli import main

sys.exit(main())
