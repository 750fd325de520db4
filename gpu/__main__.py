"""`python -m gpu train [flags]`, `python -m gpu ptx` (compile every kernel for sm_90),
`python -m gpu bench` (needs a GPU; says so and exits 0 without one), or `python -m gpu
verify` (the GPU section of the verify report)."""

import sys

if sys.argv[1:2] == ["ptx"]:
    from gpu.ptx import main

    sys.argv.pop(1)
elif sys.argv[1:2] == ["bench"]:
    from gpu.bench import main

    sys.argv.pop(1)
elif sys.argv[1:2] == ["verify"]:
    from gpu.verify import main

    sys.argv.pop(1)
else:
    from gpu.train import main

sys.exit(main())
