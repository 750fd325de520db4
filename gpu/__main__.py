"""`python -m gpu train [flags]`, or `python -m gpu ptx` (compile every kernel for sm_90)."""

import sys

if sys.argv[1:2] == ["ptx"]:
    from gpu.ptx import main

    sys.argv.pop(1)
else:
    from gpu.train import main

sys.exit(main())
