import sys

from parallel.cli import main

sys.exit(main())
