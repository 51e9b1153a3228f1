"""The usual MNIST pipeline of the PyTorch examples, shared by the benchmarks as their baseline."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from torchvision import datasets, transforms

from vae_tutorial.data import MNIST_FILES


@contextmanager
def torchvision_mnist(root: Path) -> Iterator[datasets.MNIST]:
    """``datasets.MNIST(train=True, transform=ToTensor())`` built offline from ``root``'s files.

    torchvision extracts the files next to themselves, so they are copied to a temporary folder
    first (``root`` may be read-only).
    """
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in MNIST_FILES:
            shutil.copy(root / "MNIST" / "raw" / name, raw / name)
        yield datasets.MNIST(tmp, train=True, download=True, transform=transforms.ToTensor())
