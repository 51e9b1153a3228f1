"""Shared fixtures: tiny fake MNIST files, and a clean data cache for every test."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from vae_tutorial import data

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _fresh_data_cache(monkeypatch: pytest.MonkeyPatch):
    """Each test loads data anew, and never downloads unless it says so."""
    data._cache.clear()
    monkeypatch.setenv("VAE_TUTORIAL_OFFLINE", "1")
    yield
    data._cache.clear()


def _idx(array: np.ndarray) -> bytes:
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(
        n.to_bytes(4, "big") for n in array.shape
    )
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def write_fake_mnist(
    raw: Path, n_train: int = 50, n_test: int = 20, seed: int = 0
) -> dict[str, str]:
    """Write four small valid IDX files into ``raw``; return their MD5 sums by name."""
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 10,
    }
    sums = {}
    for name, array in arrays.items():
        blob = _idx(array)
        (raw / name).write_bytes(blob)
        sums[name] = hashlib.md5(blob).hexdigest()
    return sums


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with small, valid MNIST files whose MD5s the loader accepts."""
    sums = write_fake_mnist(tmp_path / "MNIST" / "raw")
    monkeypatch.setattr(data, "MNIST_FILES", sums)
    return tmp_path


@pytest.fixture(scope="session")
def small_mnist() -> data.MNISTData:
    """512 training digits of the offline fallback (85 of them held out for validation, as
    load_mnist does) and 256 test digits: real digits, fast to train on."""
    full = data._load_fallback()
    return data.hold_out_validation(
        data.MNISTData(
            full.train_images[:512],
            full.train_labels[:512],
            full.test_images[:256],
            full.test_labels[:256],
            full.source,
        )
    )
