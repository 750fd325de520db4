"""`mpiexec -n P python -m mpi4py -m parallel train ...`, or `python -m parallel bench|verify`
(which start their own MPI runs, and so must not initialise MPI themselves)."""

import sys

command = sys.argv[1] if len(sys.argv) > 1 else ""
if command in ("bench", "bench-worker", "allreduce-worker"):
    from parallel.bench import main
elif command == "verify":
    from parallel.verify import main

    sys.argv.pop(1)
else:
    from parallel.cli import main

sys.exit(main())
