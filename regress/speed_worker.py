"""Internal: one speed sample in a fresh process (regress/speed.py says why), for `oraclenet
regress record` and `regress check` (session.spawn_sample starts it). Not a user command:

    python -m oraclenet.regress.speed_worker SETTINGS_JSON NAME

It tunes the process as the `oraclenet` command does, measures one sample of speed NAME for
the baseline's settings (session.sample) and prints {"rate": ..., "relative": ...} as one
line.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from ..common.process import tune_for_speed
    from ..gpu.target import tune_simulator

    tune_for_speed()  # before numpy is imported, as the command does
    tune_simulator()
    from .session import Settings, sample

    given, name = json.loads(argv[0]), argv[1]
    rate, relative = sample(dataclasses.replace(Settings(Path(".")), **given), name)
    print(json.dumps({"rate": rate, "relative": relative}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
