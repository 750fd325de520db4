"""A trainer's evaluation in other hands: the data it evaluates, its logits, predictions and
accuracy, honest (numpy float64 as the MPI trainers compute it, float32, hidden units split
as model parallelism splits them) and with a bug planted on purpose. An evaluator takes the
oracle's parameters and a data set and returns what a trainer would report:
(images it evaluated, z2, predictions, accuracy)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from ..common.data import Dataset
from ..common.params import Params
from ..parallel.host import HostNetwork, logistic

Evaluator = Callable[[Params, Dataset], tuple[np.ndarray, np.ndarray, np.ndarray, float]]


def _report(images, z2, labels):
    predicted = np.argmax(z2, axis=0)
    return images, z2, predicted, float(np.mean(predicted == labels))


def host(p: Params, data: Dataset):
    net = HostNetwork(p)
    net.forward(data.images)
    return _report(data.images, net.z2(), data.labels)


def float32(p: Params, data: Dataset):
    f = np.float32
    images = data.images.astype(f)
    W1, b1, W2, b2 = (a.astype(f) for a in p.blocks().values())
    z2 = W2 @ logistic(W1 @ images.T + b1).astype(f) + b2
    return _report(images, z2, data.labels)


def hidden_in_parts(parts: int) -> Evaluator:
    def evaluate(p: Params, data: Dataset):
        edges = np.linspace(0, p.hidden, parts + 1).astype(int)
        z2 = p.b2 + sum(p.W2[:, lo:hi] @ logistic(p.W1[lo:hi] @ data.X + p.b1[lo:hi])
                        for lo, hi in itertools.pairwise(edges) if hi > lo)
        return _report(data.images, z2, data.labels)
    return evaluate


def without_b2(p: Params, data: Dataset):
    """The bias of the output layer left out of the evaluation's logits."""
    z2 = p.W2 @ logistic(p.W1 @ data.X + p.b1)
    return _report(data.images, z2, data.labels)


def unscaled(p: Params, data: Dataset):
    """The test set left in raw pixels (0..255), unlike the training set."""
    raw = data.images * 255
    return _report(raw, p.W2 @ logistic(p.W1 @ raw.T + p.b1) + p.b2, data.labels)


def labels_shifted(p: Params, data: Dataset):
    """Accuracy counted against the labels of the next image."""
    images, z2, predicted, _ = host(p, data)
    return images, z2, predicted, float(np.mean(predicted == np.roll(data.labels, 1)))


def tanh_in_evaluation(p: Params, data: Dataset):
    """The evaluation's forward pass with tanh for the sigmoid (the training step's is right)."""
    z2 = p.W2 @ np.tanh(p.W1 @ data.X + p.b1) + p.b2
    return _report(data.images, z2, data.labels)


def wrong_images(p: Params, data: Dataset):
    """Evaluated on the images in another order than the labels (a shuffle applied to one)."""
    shuffled = Dataset(data.images[::-1].copy(), data.labels)
    return host(p, shuffled)


HONEST: dict[str, Evaluator] = {"numpy float64": host, "float32": float32,
                                "hidden units in 3 parts": hidden_in_parts(3)}
BUGS: dict[str, Evaluator] = {
    "b2 left out of the evaluation logits": without_b2,
    "test set left unscaled": unscaled,
    "accuracy against the labels of the next image": labels_shifted,
    "tanh in the evaluation's forward pass": tanh_in_evaluation,
    "images and labels in different orders": wrong_images,
}
