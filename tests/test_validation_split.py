"""The validation split: a fixed sixth of the training digits, held out, on which train() logs
every epoch; the test set is never read in training (issue: decisions on a validation split)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vae_tutorial import data
from vae_tutorial.model import VAEConfig
from vae_tutorial.train import CheckpointError, History, TrainConfig, train
from vae_tutorial.variants import build_model


def test_the_split_sizes() -> None:
    assert data.validation_size(60_000) == 10_000  # MNIST: 50,000 / 10,000
    assert data.validation_size(4_000) == 667  # the fallback's training digits
    assert data.validation_size(2) == 1
    with pytest.raises(ValueError, match="at least 2 training images"):
        data.validation_size(1)


def test_the_held_out_digits_are_fixed_disjoint_and_complete() -> None:
    raw = data._load_fallback()
    a, b = data.hold_out_validation(raw), data.hold_out_validation(raw)
    assert torch.equal(a.validation_images, b.validation_images)  # the same every time
    assert (len(a.train_images), len(a.validation_images)) == (3_333, 667)
    assert torch.equal(a.test_images, raw.test_images)  # the test set is untouched

    def rows(images: torch.Tensor) -> list[bytes]:
        return sorted(image.numpy().tobytes() for image in images)

    assert rows(torch.cat([a.train_images, a.validation_images])) == rows(raw.train_images)
    assert torch.equal(
        torch.cat([a.train_labels, a.validation_labels]).sort().values,
        raw.train_labels.sort().values,
    )
    assert data.hold_out_validation(a) is a  # a split is never split again
    assert "3,333 training, 667 validation and 1,000 test digits" in a.describe()


def test_load_mnist_gives_the_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAE_TUTORIAL_FALLBACK", "1")
    mnist = data.load_mnist(verbose=False)
    assert mnist.has_validation and len(mnist.validation_images) == 667


def _tiny(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(VAEConfig(latent_dim=2, hidden_dims=(16,)))


def test_train_logs_the_validation_split_and_never_reads_the_test_set(small_mnist) -> None:
    config = TrainConfig(epochs=2, batch_size=64)
    history = train(_tiny(), small_mnist, config, progress=False, log=None)
    scrambled = dataclasses.replace(small_mnist, test_images=255 - small_mnist.test_images)
    again = train(_tiny(), scrambled, config, progress=False, log=None)
    assert history.to_dict().keys() == again.to_dict().keys()
    assert history.validation_loss == again.validation_loss  # the test set changed nothing
    assert history.train_loss == again.train_loss
    assert "test_loss" not in history.to_dict()


def test_data_without_a_split_gets_one_and_says_so(small_mnist) -> None:
    bare = data.ImageData(small_mnist.train_images, None, small_mnist.test_images, None, "mine")
    lines: list[str] = []
    history = train(
        _tiny(), bare, TrainConfig(epochs=1, batch_size=64), progress=False, log=lines.append
    )
    assert lines[0] == "Held out 71 of the training images for validation."
    assert history.epochs == 1


def test_a_history_logged_on_the_test_set_cannot_be_resumed() -> None:
    old = {
        "train_loss": [100.0],
        "test_loss": [99.0],
        "test_reconstruction": [90.0],
        "test_kl": [9.0],
        "seconds": [1.0],
    }
    with pytest.raises(CheckpointError, match="before the validation split.*--init-from"):
        History.from_dict(old)


def test_evaluations_compare_by_test_set_across_the_split() -> None:
    from vae_tutorial.__main__ import _test_set

    old = "full MNIST: 60,000 training and 10,000 test digits"
    new = "full MNIST: 50,000 training, 10,000 validation and 10,000 test digits"
    assert _test_set(old) == _test_set(new) == "full MNIST, 10,000 test"
    assert _test_set(new) != _test_set(new.replace("full MNIST", "offline fallback"))
