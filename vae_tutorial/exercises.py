"""Checks for the chapters' exercises.

Each check calls the student's function on fresh inputs, compares it with a reference, and
either prints a short confirmation or raises :class:`ExerciseError` with a hint that says what is
wrong (a shape, a scale, a sign) rather than a bare ``AssertionError``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["ExerciseError", "check_class_means", "check_expected_ink"]


class ExerciseError(AssertionError):
    """A student's answer is not right yet; the message says why."""


def _sample_digits(seed: int = 0, n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    images[torch.rand(n, 28, 28, generator=g) < 0.8] = 0  # mostly blank, like MNIST
    labels = torch.arange(n) % 10
    return images, labels[torch.randperm(n, generator=g)]


def _as_tensor(value: object, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should return a torch.Tensor, got {type(value).__name__}.")
    return value


def check_class_means(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(images, labels)`` gives the class means: ``(10, 28, 28)`` in [0, 1]."""
    images, labels = _sample_digits()
    got = _as_tensor(fn(images, labels), "class_means(images, labels)")
    want = torch.stack([images[labels == c].float().mean(0) / 255 for c in range(10)])
    if tuple(got.shape) != (10, 28, 28):
        raise ExerciseError(
            f"Expected one 28×28 mean image per class, shape (10, 28, 28); got {tuple(got.shape)}."
        )
    got = got.double()
    if torch.allclose(got, want.double() * 255, atol=1e-3):
        raise ExerciseError(
            "Right means, wrong scale: divide the uint8 pixels by 255 to get values in [0, 1]."
        )
    if torch.allclose(got, want.double().mean(0).expand(10, 28, 28), atol=1e-4):
        raise ExerciseError(
            "Every class got the same image: select the digits with `labels == c` first."
        )
    if not torch.allclose(got, want.double(), atol=1e-4):
        worst = (got - want.double()).abs().amax(dim=(1, 2)).argmax().item()
        raise ExerciseError(
            f"The mean image of class {worst} is off. Average over the digits of that class only."
        )
    print("Correct: one mean image per class, with pixel values in [0, 1].")


def check_expected_ink(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(images)`` returns E[number of 1-pixels] per digit under dynamic binarization.

    Each pixel is on with probability equal to its intensity, so the expectation is the sum of the
    intensities in [0, 1]: a tensor of shape ``(N,)``.
    """
    images, _ = _sample_digits(seed=1)
    got = _as_tensor(fn(images), "expected_ink(images)")
    want = images.double().div(255).sum(dim=(1, 2))
    if got.shape == (images.shape[0], 28, 28) or got.numel() == images.numel():
        raise ExerciseError(
            "Sum over the pixels of each digit: the answer has one number per digit, shape (N,)."
        )
    if tuple(got.shape) != (images.shape[0],):
        raise ExerciseError(
            f"Expected one number per digit, shape ({images.shape[0]},); got {tuple(got.shape)}."
        )
    got = got.double()
    if torch.allclose(got, want * 255, rtol=1e-4):
        raise ExerciseError(
            "Off by a factor of 255: a pixel's probability of being on is its intensity / 255."
        )
    if torch.allclose(got, (images > 0).sum(dim=(1, 2)).double()):
        raise ExerciseError(
            "That counts the nonzero pixels; a faint pixel is on only with a small probability."
        )
    if torch.allclose(got, (images >= 128).sum(dim=(1, 2)).double()):
        raise ExerciseError(
            "That is a fixed threshold at 0.5; dynamic binarization draws each pixel at random."
        )
    if not torch.allclose(got, want, rtol=1e-4):
        raise ExerciseError(
            "Not yet: by linearity of expectation, E[Σ bits] = Σ P(bit = 1) = Σ intensities."
        )
    print("Correct: the expected number of ink pixels is the sum of the intensities.")
