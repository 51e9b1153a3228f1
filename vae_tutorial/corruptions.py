"""Corruptions of digit images: additive Gaussian noise, salt-and-pepper noise and occlusion.

Every function takes a batch ``x`` of images with pixels in [0, 1], shaped ``(B, 784)`` or
``(B, 28, 28)``, and returns a corrupted copy of the same shape on the same device. Randomness
comes from ``generator`` (a ``torch.Generator`` on ``x``'s device) when one is given, else from
torch's global stream, so a training run that corrupts its batches still resumes exactly.

- ``gaussian``, level σ: x̃ = clip(x + σ ε, 0, 1), ε ~ N(0, I).
- ``salt_pepper``, level p: each pixel, with probability p, is replaced by 0 or 1 (equally likely).
- ``square``, level s: an s x s square at a uniformly random position is set to 0 (erased ink).
- ``half``: one half of the image (top, bottom, left or right, equally likely) is set to 0.

A :class:`Corruption` names one of these with its level; it is what a training run records
(``TrainConfig.corruption``) and what the command line reads (``gaussian:0.5``, ``half``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

__all__ = [
    "KINDS",
    "Corruption",
    "gaussian_noise",
    "salt_and_pepper",
    "occlude_square",
    "occlude_half",
    "corrupt",
]

Kind = Literal["gaussian", "salt_pepper", "square", "half"]
KINDS: tuple[str, ...] = ("gaussian", "salt_pepper", "square", "half")
SIDE = 28


def _draw(
    shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None, kind: str
) -> torch.Tensor:
    """Standard normal (``kind="normal"``) or uniform [0, 1) numbers on ``x``'s device."""
    draw = torch.randn if kind == "normal" else torch.rand
    return draw(shape, generator=generator, device=x.device, dtype=x.dtype)


def _check(x: torch.Tensor) -> None:
    if not torch.is_floating_point(x) or x.dim() not in (2, 3) or x[0].numel() != SIDE * SIDE:
        raise ValueError(
            "x must be a float batch of 28 x 28 images with pixels in [0, 1], shaped (B, 784) "
            f"or (B, 28, 28); got {x.dtype} {tuple(x.shape)}"
        )


def gaussian_noise(
    x: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """x̃ = clip(x + σ ε, 0, 1) with ε ~ N(0, I): additive white noise of standard deviation σ."""
    _check(x)
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma!r}")
    return (x + sigma * _draw(tuple(x.shape), x, generator, "normal")).clamp_(0, 1)


def salt_and_pepper(
    x: torch.Tensor, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Each pixel independently, with probability p, becomes 0 or 1 (probability 1/2 each)."""
    _check(x)
    if not 0 <= p <= 1:
        raise ValueError(f"the salt-and-pepper rate p must be in [0, 1], got {p!r}")
    hit = _draw(tuple(x.shape), x, generator, "uniform") < p
    salt = _draw(tuple(x.shape), x, generator, "uniform") < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def occlude_square(
    x: torch.Tensor, side: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Set an ``side`` x ``side`` square to 0, its top-left corner uniform over the positions
    where it fits in the 28 x 28 image (a fresh position per image)."""
    _check(x)
    if not isinstance(side, int) or not 1 <= side <= SIDE:
        raise ValueError(f"the square's side must be an integer from 1 to {SIDE}, got {side!r}")
    b = len(x)
    corner = (_draw((b, 2), x, generator, "uniform") * (SIDE - side + 1)).long()
    rows = torch.arange(SIDE, device=x.device)
    inside_r = (rows >= corner[:, :1]) & (rows < corner[:, :1] + side)  # (B, 28)
    inside_c = (rows >= corner[:, 1:]) & (rows < corner[:, 1:] + side)
    mask = inside_r[:, :, None] & inside_c[:, None, :]  # (B, 28, 28)
    return x.masked_fill(mask.reshape(x.shape), 0.0)


def occlude_half(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set one half of each image to 0: the top, bottom, left or right half, equally likely."""
    _check(x)
    b = len(x)
    which = (_draw((b,), x, generator, "uniform") * 4).long()  # 0 top, 1 bottom, 2 left, 3 right
    index = torch.arange(SIDE, device=x.device)
    first = index < SIDE // 2  # (28,): the top rows, or the left columns
    rows = torch.where((which == 0)[:, None], first, ~first)  # the masked rows if which < 2
    mask_rows = rows[:, :, None].expand(b, SIDE, SIDE)
    cols = torch.where((which == 2)[:, None], first, ~first)
    mask_cols = cols[:, None, :].expand(b, SIDE, SIDE)
    mask = torch.where((which < 2)[:, None, None], mask_rows, mask_cols)
    return x.masked_fill(mask.reshape(x.shape), 0.0)


@dataclass(frozen=True)
class Corruption:
    """One corruption and its level: σ for ``gaussian``, p for ``salt_pepper``, the side in
    pixels for ``square``; ``half`` has none (``level=None``)."""

    kind: Kind
    level: float | int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"corruption kind must be one of {', '.join(KINDS)}; got {self.kind!r}"
            )
        if self.kind == "half":
            if self.level is not None:
                raise ValueError(f"'half' takes no level, got {self.level!r}")
            return
        if self.level is None:
            raise ValueError(
                f"'{self.kind}' needs a level, for example {self.kind}:{_EXAMPLE[self.kind]}"
            )
        if self.kind == "square":
            if float(self.level) != int(self.level) or not 1 <= self.level <= SIDE:
                raise ValueError(
                    f"a square's side must be an integer from 1 to 28, got {self.level!r}"
                )
            object.__setattr__(self, "level", int(self.level))
        elif self.kind == "salt_pepper" and not 0 <= self.level <= 1:
            raise ValueError(f"the salt-and-pepper rate must be in [0, 1], got {self.level!r}")
        elif self.kind == "gaussian" and not 0 <= self.level < math.inf:
            raise ValueError(
                f"the Gaussian noise level sigma must be a finite number >= 0, got {self.level!r}"
            )

    @classmethod
    def parse(cls, text: str) -> Corruption:
        """``"gaussian:0.5"``, ``"salt_pepper:0.1"``, ``"square:14"`` or ``"half"``."""
        kind, _, level = text.partition(":")
        if kind not in KINDS:
            raise ValueError(
                f"unknown corruption {text!r}: expected KIND:LEVEL with KIND one of "
                f"{', '.join(KINDS)} (for example gaussian:0.5, salt_pepper:0.1, square:14, half)"
            )
        if not level:
            return cls(kind)  # type: ignore[arg-type]
        try:
            number = float(level)
        except ValueError:
            raise ValueError(f"the level in {text!r} is not a number") from None
        return cls(kind, number)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.kind if self.level is None else f"{self.kind}:{self.level:g}"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The corrupted copy of ``x``."""
        if self.kind == "gaussian":
            return gaussian_noise(x, float(self.level), generator)  # type: ignore[arg-type]
        if self.kind == "salt_pepper":
            return salt_and_pepper(x, float(self.level), generator)  # type: ignore[arg-type]
        if self.kind == "square":
            return occlude_square(x, int(self.level), generator)  # type: ignore[arg-type]
        return occlude_half(x, generator)


_EXAMPLE = {"gaussian": "0.5", "salt_pepper": "0.1", "square": "14"}


def corrupt(
    x: torch.Tensor, corruptions: Sequence[Corruption], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Each image gets one of ``corruptions``, chosen uniformly at random per image.

    Every corruption is applied to the whole batch and each image keeps the one it drew: a few
    cheap tensor operations, no Python loop over images.
    """
    if not corruptions:
        raise ValueError("corrupt needs at least one Corruption")
    if len(corruptions) == 1:
        return corruptions[0](x, generator)
    choice = (_draw((len(x),), x, generator, "uniform") * len(corruptions)).long()
    out = torch.empty_like(x)
    for i, corruption in enumerate(corruptions):
        chosen = choice == i
        out[chosen] = corruption(x, generator)[chosen]
    return out
