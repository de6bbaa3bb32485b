"""`python -m hub` runs the `hausmeister` command."""

import sys

from hub.cli import main

sys.exit(main())
