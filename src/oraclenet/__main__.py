"""`python -m oraclenet`, the same as the `oraclenet` command."""

import sys

from .cli import main

sys.exit(main())
