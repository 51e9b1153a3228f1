"""device(), seed_everything(), show_source() and the exercise checks."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import vae_tutorial
from vae_tutorial import exercises


def test_device_is_printed_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vae_tutorial, "_announced", set())
    first = vae_tutorial.device()
    second = vae_tutorial.device()
    assert first == second and first.type in {"cuda", "mps", "cpu"}
    assert capsys.readouterr().out == f"Using device: {first.type}\n"


def test_device_prefers_cuda_then_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert vae_tutorial.device(verbose=False).type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert vae_tutorial.device(verbose=False).type == "cuda"


def test_seed_everything_repeats_every_generator() -> None:
    def draw() -> tuple:
        return random.random(), np.random.rand(), torch.rand(1).item()

    vae_tutorial.seed_everything(7)
    first = draw()
    generator = vae_tutorial.seed_everything(7)
    assert draw() == first
    assert torch.equal(
        torch.rand(3, generator=generator),
        torch.rand(3, generator=torch.Generator().manual_seed(7)),
    )
    with pytest.raises(ValueError, match="non-negative integer"):
        vae_tutorial.seed_everything(-1)


def test_show_source_renders_the_package_code() -> None:
    shown = vae_tutorial.show_source(vae_tutorial.seed_everything)
    assert shown.data.startswith("```python\ndef seed_everything(") and shown.data.endswith("```")


def _right_class_means(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.stack([images[labels == c].float().mean(0) / 255 for c in range(10)])


def test_class_means_check_accepts_the_right_answer(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check_class_means(_right_class_means)
    assert capsys.readouterr().out.startswith("Correct")


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda im, lb: _right_class_means(im, lb) * 255, "divide the uint8 pixels by 255"),
        (lambda im, lb: (im.float() / 255).mean(0).expand(10, 28, 28), "same image"),
        (lambda im, lb: _right_class_means(im, lb)[:9], "shape"),
        (lambda im, lb: _right_class_means(im, lb).numpy(), "torch.Tensor"),
        (lambda im, lb: _right_class_means(im, lb).roll(1, 0), "class"),
    ],
)
def test_class_means_check_explains_wrong_answers(answer, hint: str) -> None:
    with pytest.raises(exercises.ExerciseError, match=hint):
        exercises.check_class_means(answer)


def test_expected_ink_check(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check_expected_ink(lambda im: (im.float() / 255).sum(dim=(1, 2)))
    assert capsys.readouterr().out.startswith("Correct")
    wrong = {
        "factor of 255": lambda im: im.float().sum(dim=(1, 2)),
        "nonzero pixels": lambda im: (im > 0).sum(dim=(1, 2)),
        "threshold": lambda im: (im >= 128).sum(dim=(1, 2)),
        "one number per digit": lambda im: im.float() / 255,
        "linearity": lambda im: (im.float() / 255).sum(dim=(1, 2)) + 1,
    }
    for hint, answer in wrong.items():
        with pytest.raises(exercises.ExerciseError, match=hint):
            exercises.check_expected_ink(answer)


def test_show_source_can_show_one_passage() -> None:
    from vae_tutorial.data import Batches

    shown = vae_tutorial.show_source(
        Batches.__iter__, start="for i in range", stop="if self.with_labels"
    )
    assert shown.data.startswith("```python\nfor i in range(len(self)):")
    assert "with_labels" not in shown.data
    with pytest.raises(ValueError, match="does not occur"):
        vae_tutorial.show_source(Batches.__iter__, start="no such line")
