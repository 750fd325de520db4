"""The network's fixed sizes (SPEC section 1): 784 pixels in, 10 classes out, H hidden units.

    W1: H x 784   b1: H x 1   W2: 10 x H   b2: 10 x 1
"""

from __future__ import annotations

N_PIXELS = 784
N_CLASSES = 10
BLOCKS = ("W1", "b1", "W2", "b2")


def param_shapes(hidden: int) -> dict[str, tuple[int, int]]:
    """{block: shape} of the parameters (and of their gradients) at hidden width H."""
    return {"W1": (hidden, N_PIXELS), "b1": (hidden, 1), "W2": (N_CLASSES, hidden),
            "b2": (N_CLASSES, 1)}


def n_parameters(hidden: int) -> int:
    """784 H + H + 10 H + 10: every entry of W1, b1, W2 and b2."""
    return (N_PIXELS + 1 + N_CLASSES) * hidden + N_CLASSES


def flops_per_image(hidden: int) -> int:
    """Flops of one training step per image: the two products with W1-sized operands (z1, dW1)
    and the three with W2-sized ones (z2, dW2, da1), two flops per multiply-add. Elementwise
    work is not counted."""
    return 4 * N_PIXELS * hidden + 6 * N_CLASSES * hidden


def transposed_note(got: tuple[int, ...], want: tuple[int, ...]) -> str:
    """A shape that is the expected one transposed, named as the usual cause: the
    convention with samples as rows (x W, W stored inputs x outputs)."""
    if len(got) == 2 and tuple(got) == tuple(want)[::-1] and tuple(got) != tuple(want):
        return (": its transpose, as where samples are rows (x W, with W stored inputs x "
                "outputs); the course's convention has samples as columns (W x)")
    return ""
