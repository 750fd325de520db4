import sys

if sys.argv[1:2] == ["ptx"]:
    from gpu.ptx import main

    sys.exit(main())
sys.exit("usage: python -m gpu ptx")
