"""Checks for Part III, The latent space at work (chapters 8-9): interpolation, the quantile
grid, the judge's confidence, and denoising."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ._checking import (
    ExerciseError,
    _as_tensor,
    _close,
    _generator,
    _likely_mistake,
    _shape,
    _versus,
)

__all__ = [
    "check_slerp",
    "check_quantile_cell_shares",
    "check_unsure_shares",
    "check_psnr",
    "check_salt_and_pepper",
]


def check_slerp(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(z0, z1, t)`` is spherical interpolation, one row per t: ``(len(t), d)``.

    slerp = sin((1 - t) Omega) / sin(Omega) z0 + sin(t Omega) / sin(Omega) z1, with Omega the
    angle between z0 and z1; for (nearly) parallel z0, z1 it must fall back to lerp, not NaN.
    """
    from vae_tutorial.latent import lerp, slerp

    g = _generator(8)
    t = torch.rand(9, generator=g, dtype=torch.float64)
    t[0], t[-1] = 0.0, 1.0
    for d in (2, 20):
        z0 = torch.randn(d, generator=g, dtype=torch.float64)
        z1 = torch.randn(d, generator=g, dtype=torch.float64) * 1.5
        got = _as_tensor(fn(z0, z1, t), "slerp(z0, z1, t)")
        want = slerp(z0, z1, t)
        _shape(got, want, f"slerp of two {d}-D points at {len(t)} values of t")
        if _close(got, lerp(z0, z1, t)):
            raise ExerciseError("That is the straight line (lerp): use the angle Omega.")
        unit = slerp(z0 / z0.norm(), z1 / z1.norm(), t)
        if _close(got, unit):
            raise ExerciseError(
                "The points lie on the unit sphere: interpolate z0 and z1 themselves, "
                "not their directions."
            )
        if _close(got, slerp(z0, z1, 1 - t)):
            raise ExerciseError("The path runs backwards: at t = 0 it must be at z0.")
        if not _close(got, want):
            raise ExerciseError(
                "Not yet: the weights are sin((1 - t) Omega) / sin(Omega) and "
                "sin(t Omega) / sin(Omega), with cos(Omega) = z0·z1 / (|z0| |z1|). "
                + _likely_mistake(got, want)
            )
    z0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for z1 in (z0.clone(), 2 * z0):
        got = _as_tensor(fn(z0, z1, t), "slerp(z0, z1, t)")
        if not torch.isfinite(got).all():
            raise ExerciseError(
                "Parallel z0 and z1 give sin(Omega) = 0 and NaNs: fall back to lerp there."
            )
        if not _close(got, lerp(z0, z1, t)):
            raise ExerciseError("For parallel z0 and z1, slerp should equal lerp.")
    print(
        "Correct: slerp's path (a great circle between codes of equal norm), and lerp for "
        "parallel points."
    )


def check_quantile_cell_shares(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise: ``fn(z, n)`` gives the share of the 2-D codes ``z`` ``(N, 2)`` in each cell of
    the n x n quantile grid, ``(n, n)``: row 0 the largest z_2, column 0 the smallest z_1.

    Cell boundaries are the prior quantiles Phi^{-1}(k / n); a code with Phi(z) = 1 in floating
    point belongs to the outermost cell.
    """
    from vae_tutorial.latent import quantile_cell_shares

    g = _generator(8)
    prior_like = torch.randn(3000, 2, generator=g, dtype=torch.float64)
    clustered = 0.4 * torch.randn(1000, 2, generator=g, dtype=torch.float64) + torch.tensor([1, -1])
    z = torch.cat([prior_like, clustered])
    far = torch.tensor([[12.0, 0.3], [-0.2, 12.0], [-12.0, -12.0]], dtype=torch.float64)
    for n, codes in ((10, z), (4, torch.cat([z, far]))):
        try:
            got = _as_tensor(fn(codes, n), f"cell_shares(z, {n})")
        except (IndexError, RuntimeError) as error:
            raise ExerciseError(
                f"With n = {n} your function failed ({type(error).__name__}: {error}). A code far "
                "out has Phi(z) = 1 and index n: clamp the cell index to n - 1."
            ) from error
        want = quantile_cell_shares(codes, n).double()
        _shape(got, want, f"shares of {len(codes)} codes in the {n} x {n} cells")
        got = got.double()
        if _close(got, want * len(codes)):
            raise ExerciseError("Those are counts: divide by the number of codes to get shares.")
        if _close(got, want * 100):
            raise ExerciseError("Those are percentages: return shares, which sum to 1.")
        if _close(got, want.T) or _close(got, want.flip(0).T):
            raise ExerciseError(
                "Rows and columns are swapped: a row is a band of z_2, a column a band of z_1."
            )
        if _close(got, want.flip(0)):
            raise ExerciseError(
                "Upside down: row 0 is the top row, the largest z_2, as on a plot and in "
                "prior_quantile_grid."
            )
        if _close(got, want.flip(1)):
            raise ExerciseError("Mirrored: column 0 is the smallest z_1.")
        if not _close(got, want):
            raise ExerciseError(
                "Not yet: map each coordinate through the normal CDF, u = Phi(z), and put the code "
                "in cell floor(n u) of each axis (clamped to n - 1), so every cell holds 1/n^2 of "
                "the prior's mass. " + _likely_mistake(got, want)
            )
    print("Correct: one share per quantile cell, laid out like the decoded grid, summing to 1.")


def check_unsure_shares(fn: Callable[[torch.Tensor, list[float]], torch.Tensor]) -> None:
    """Exercise: ``fn(top_probability, thresholds)`` gives, for each threshold, the share of images
    whose top probability is below it (strictly): a tensor ``(len(thresholds),)``."""
    g = _generator(8)
    top = torch.rand(2000, generator=g, dtype=torch.float64) * 0.9 + 0.1
    top[:50] = 0.7  # ties at a threshold: "below" is strict
    thresholds = [0.5, 0.7, 0.9, 0.99]
    got = _as_tensor(fn(top, thresholds), "unsure_shares(top_probability, thresholds)")
    want = torch.tensor([(top < c).double().mean().item() for c in thresholds], dtype=torch.float64)
    _shape(got, want, f"one share per threshold ({len(thresholds)} thresholds)")
    got = got.double()
    if _close(got, 1 - want):
        raise ExerciseError(
            "That is the share the judge is sure of: count the images BELOW the threshold."
        )
    if _close(got, 100 * want):
        raise ExerciseError("Those are percentages: return shares in [0, 1].")
    at_most = torch.tensor([(top <= c).double().mean().item() for c in thresholds])
    if _close(got, at_most.double()):
        raise ExerciseError("Images exactly at the threshold count as sure: use `<`, not `<=`.")
    if not _close(got, want):
        raise ExerciseError(
            "Not yet: for each threshold c, the mean of (top_probability < c) over the images. "
            + _likely_mistake(got, want)
        )
    print("Correct: the share below each threshold, with ties counted as sure.")


def check_psnr(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(estimate, clean)`` is the PSNR of each image in dB, ``(B,)``:
    10 log10(1 / MSE) for pixels in [0, 1], +inf for identical images."""
    from vae_tutorial.denoising import psnr

    g = _generator(9)
    clean = torch.rand(6, 784, generator=g, dtype=torch.float64)
    estimate = (clean + 0.1 * torch.randn(6, 784, generator=g, dtype=torch.float64)).clamp(0, 1)
    for a, b, what in ((estimate, clean, "a batch of six"), (estimate[:1], clean[:1], "one image")):
        got = _as_tensor(fn(a, b), "psnr(estimate, clean)")
        want = psnr(a, b)
        if got.dim() == 0 and len(a) > 1:
            raise ExerciseError(
                "You returned one number for the whole batch: give one PSNR per image, averaging "
                "the squared error over each image's pixels only (dim=1)."
            )
        _shape(got, want, f"the PSNR of {what}")
        got = got.double()
        if _close(got, want * math.log(10)):
            raise ExerciseError("That is 10 ln(1 / MSE): PSNR uses log10.")
        if _close(got, -want):
            raise ExerciseError(
                "The sign is flipped: PSNR = 10 log10(1 / MSE) = -10 log10(MSE). "
                + _versus(got, want)
            )
        if _close(got, want + 20 * torch.log10(torch.tensor(255.0, dtype=torch.float64))):
            raise ExerciseError("The pixels are in [0, 1], so the peak value is 1, not 255.")
        if _close(got, want - 10 * math.log10(784)):
            raise ExerciseError(
                "About 28.9 dB = 10 log10(784) too low: you summed the squared error over the "
                "pixels; MSE is the mean over an image's pixels."
            )
        if _close(got, want / 2) or _close(got, 2 * want):
            raise ExerciseError(
                "Off by a factor of two: 10 log10 of the ratio of powers (MSE is already a "
                "squared error), not 20 log10. " + _versus(got, want)
            )
        if not _close(got, want):
            raise ExerciseError(
                "Not yet: MSE = mean over an image's pixels of (estimate - clean)^2, and "
                "PSNR = 10 log10(1 / MSE). " + _likely_mistake(got, want)
            )
    same = _as_tensor(fn(clean, clean), "psnr(clean, clean)")
    if not torch.isinf(same).all() or (same < 0).any():
        raise ExerciseError(
            f"Identical images have MSE 0 and PSNR +inf; you gave {same[:3].tolist()}. Do not add "
            "an epsilon inside the formula."
        )
    print("Correct: one PSNR per image in dB, and +inf for identical images.")


def check_salt_and_pepper(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise: ``fn(x, p, generator)`` replaces each pixel, with probability p, by 0 or 1 (each
    with probability 1/2), leaves the others alone and returns a new tensor."""
    x = torch.full((4000, 784), 0.5)
    before = x.clone()
    for p in (0.0, 0.1, 0.5, 1.0):
        g = _generator(10)
        got = _as_tensor(fn(x, p, g), "salt_and_pepper(x, p, generator)")
        if not torch.equal(x, before):
            raise ExerciseError(
                "Your function changed its input x in place: return a corrupted copy (torch.where "
                "or x.clone()), or the clean image is lost."
            )
        _shape(got, x, "the corrupted batch")
        hit = got != 0.5
        share, salt = hit.double().mean().item(), None
        if hit.any():
            salt = (got[hit] == 1).double().mean().item()
        if not set(got.unique().tolist()) <= {0.0, 0.5, 1.0}:
            raise ExerciseError(
                "A replaced pixel becomes exactly 0 (pepper) or 1 (salt); yours took other values."
            )
        if abs(share - p / 2) < 0.01 and p > 0:
            raise ExerciseError(
                f"With p = {p} you replaced {share:.1%} of the pixels, about p / 2: choose whether "
                "to replace with probability p, then choose 0 or 1 with probability 1/2."
            )
        if abs(share - p) > 0.01:
            raise ExerciseError(
                f"With p = {p} you replaced {share:.1%} of the pixels; expected about {p:.0%}."
            )
        if salt is not None and (salt < 0.45 or salt > 0.55):
            raise ExerciseError(
                f"{salt:.0%} of the replaced pixels are 1 (salt; drawn as black ink in this book's "
                "figures): salt and pepper are equally likely, about 50% each."
            )
    g1, g2 = _generator(3), _generator(3)
    if not torch.equal(fn(x[:10], 0.3, g1), fn(x[:10], 0.3, g2)):
        raise ExerciseError(
            "Two calls with equally seeded generators differ: draw every random number with "
            "generator=generator (torch.rand(..., generator=generator))."
        )
    print("Correct: a share p of the pixels replaced, half by 0, half by 1; the input untouched.")
