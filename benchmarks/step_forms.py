"""How close the honest forms of a training step come to the rigorous bounds: every form of
corpus/forms.py in float32 and float64, at the separation corpus's learning rates, L2 weights
and shapes (corpus/cases.py RATES, FORM_SHAPES), judged by judge/bounds.py. For each family
and dtype, the worst rigorous ratio against the counted bound alone and against the bound the
judge uses (times tolerances.toml [bounds] factor), with where it is reached.
`python benchmarks/step_forms.py` writes docs/step-forms.md.
"""

from __future__ import annotations

import itertools
import platform
import time
from pathlib import Path

import numpy as np

from oraclenet.common.files import write_text
from oraclenet.common.report import table
from oraclenet.corpus import cases as C
from oraclenet.corpus import forms as F
from oraclenet.judge import bounds
from oraclenet.judge.tolerances import tolerance


def main() -> None:
    began = time.perf_counter()
    factor = tolerance("bounds.factor")
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for (name, form), dtype, (lr, reg), (H, N) in itertools.product(
            F.FORMS.items(), (np.float32, np.float64), C.RATES, C.FORM_SHAPES):
        p, X, Y = C.network_problem(H, N, "pixels", H + N)
        grad, updated, J = F.run(form, p, X, Y, reg, lr, dtype)
        judged = {"gradient": bounds.compare_gradient(grad, p, X, Y, reg).values(),
                  "step": bounds.compare_step(updated, p, X, Y, reg, lr).values(),
                  "loss": [bounds.compare_loss(J, p, X, Y, reg, dtype)]}
        for family, verdicts in judged.items():
            key = (family, np.dtype(dtype).name)
            counts[key] = counts.get(key, 0) + 1
            for v in verdicts:
                if v.rigorous_ratio > worst.get(key, (-1.0, ""))[0]:
                    worst[key] = (v.rigorous_ratio, f"{name}, lr {lr:g}, lambda {reg:g}, "
                                                    f"H {H}, N {N}: {v.check}")
    rows = [[family, dtype, str(counts[(family, dtype)]), f"{ratio * factor:.3g}",
             f"{ratio:.3g}", where] for (family, dtype), (ratio, where) in sorted(worst.items())]
    for row in rows:
        print(*row, sep="  ")
    seconds = time.perf_counter() - began
    text = f"""# Every honest form of a training step against the rigorous bounds

Made by `python benchmarks/step_forms.py` in {seconds:.0f} s on {platform.machine()}
({platform.processor() or 'CPU'}), {time.strftime('%Y-%m-%d')}: the {len(F.FORMS)} forms of
corpus/forms.py (the same step written as real code writes it: the batch mean before or after
the products, the L2 term in the gradient, inside the mean, in the update or as a factor,
lr on the gradient or its parts, fused or not, and the rest) in float32 and float64, at the
learning rates and L2 weights {', '.join(f'({lr:g}, {reg:g})' for lr, reg in C.RATES)} and
(H, N) {', '.join(f'({h}, {n})' for h, n in C.FORM_SHAPES)}. A ratio is error / allowed
(the rigorous tier); the counted bound is judge/bounds.py's before [bounds] factor
({factor:g}), the judge's is after it. A case is one form at one setting: its four blocks
(gradient, step) or its loss.

{table(("family", "dtype", "cases", "worst ratio, counted bound", "worst ratio, judge's",
        "reached at"), rows)}
"""
    write_text(Path(__file__).resolve().parent.parent / "docs" / "step-forms.md", text)


if __name__ == "__main__":
    main()
