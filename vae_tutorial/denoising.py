"""Denoising, measured: denoisers that see only the corrupted image, and the scores that judge them.

A denoiser maps a batch of corrupted images x̃ ``(B, 784)`` in [0, 1] to an estimate x̂ of the
clean image. Chapter 9 compares four:

- ``corrupted``: x̂ = x̃, the input itself (what doing nothing scores);
- ``median filter``: each pixel replaced by the median of its 3 x 3 neighbourhood, the classical
  filter for impulse noise (``scipy.ndimage.median_filter``);
- ``VAE``: x̂ = sigmoid(decode(μ(x̃))), a plain VAE's reconstruction from its encoder mean;
- ``denoising VAE``: the same, by a VAE trained to map corrupted inputs to clean targets
  (Im et al. 2017; ``train --corruption``).

:func:`score` corrupts the clean images once, hands *only* x̃ to every denoiser, and scores each
estimate against the clean image x: its squared error, summarized as the peak signal-to-noise
ratio PSNR = 10 log10(1 / MSE) dB (pixel values in [0, 1]), and whether a classifier trained on
clean digits gives x̂ the label it gives x.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from vae_tutorial.corruptions import Corruption
from vae_tutorial.latent import decode_means, encode_means
from vae_tutorial.model import VAE

__all__ = [
    "Denoiser",
    "median_filter",
    "reconstruct",
    "denoisers",
    "psnr",
    "mean_squared_error",
    "labels",
    "Scores",
    "score",
    "summarize",
]

Denoiser = Callable[[torch.Tensor], torch.Tensor]


def median_filter(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Each pixel becomes the median of the ``size`` x ``size`` window around it (the image's
    border repeated outward), image by image: ``scipy.ndimage.median_filter`` over ``(B, 28, 28)``
    with a window of ``(1, size, size)``."""
    from scipy import ndimage  # imported here: only the denoising chapter needs SciPy

    images = x.detach().reshape(len(x), 28, 28).cpu().numpy()
    filtered = ndimage.median_filter(images, size=(1, size, size), mode="nearest")
    return torch.from_numpy(filtered).reshape(x.shape).to(x.device)


def reconstruct(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """x̂ = sigmoid(decode(μ(x))): decode the encoder's mean of q(z|x). One encoder and one
    decoder call per batch; no sampling, so the estimate is deterministic."""
    mean, _ = encode_means(model, x)
    return decode_means(model, mean).reshape(x.shape).to(x.device)


def denoisers(vae: VAE, denoising_vae: VAE) -> dict[str, Denoiser]:
    """The chapter's four denoisers, in the order its tables list them."""
    return {
        "corrupted": lambda x: x,
        "median filter": median_filter,
        "VAE": lambda x: reconstruct(vae, x),
        "denoising VAE": lambda x: reconstruct(denoising_vae, x),
    }


def psnr(estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per image, 10 log10(1 / MSE) in dB for pixels in [0, 1]: ``(B,)`` from two ``(B, ...)``
    batches. Identical images have MSE 0 and PSNR +inf."""
    if estimate.shape != clean.shape:
        raise ValueError(
            f"estimate and clean must have one shape, got {tuple(estimate.shape)} and "
            f"{tuple(clean.shape)}"
        )
    return -10 * torch.log10(mean_squared_error(estimate, clean))


def mean_squared_error(estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per image, the mean over pixels of (estimate - clean)^2, in float64: ``(B,)``."""
    return (estimate.double() - clean.double()).pow(2).flatten(1).mean(dim=1)


@torch.no_grad()
def labels(classifier: torch.nn.Module, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The classifier's label argmax_c f(x)_c for each image of ``x`` (pixels in [0, 1])."""
    device = next(classifier.parameters(), torch.empty(0)).device
    flat = x.reshape(len(x), -1).float()
    return torch.cat(
        [
            classifier(flat[i : i + batch_size].to(device)).argmax(dim=1).cpu()
            for i in range(0, len(flat), batch_size)
        ]
    )


@dataclass
class Scores:
    """One denoiser on one corruption, per test image: the mean squared error against the clean
    image, and whether the classifier's label of the estimate equals its label of the clean one."""

    mse: torch.Tensor
    preserved: torch.Tensor

    def psnr(self) -> tuple[float, float]:
        """PSNR of the test set's mean squared error, 10 log10(1 / mean_i MSE_i) dB, and its
        standard error by the delta method, (10 / ln 10) s.e.(mean MSE) / mean MSE.

        Not the mean of per-image PSNRs: an image the corruption left unchanged has PSNR +inf,
        and a few nearly unchanged ones would dominate that mean."""
        m, n = self.mse.mean().item(), len(self.mse)
        if m == 0:  # every estimate identical to its clean image
            return math.inf, 0.0
        se = self.mse.std().item() / math.sqrt(n)
        return -10 * math.log10(m), 10 / math.log(10) * se / m

    def preserved_share(self) -> tuple[float, float]:
        """The share of images whose label is preserved, and its standard error."""
        share = self.preserved.double().mean().item()
        return share, math.sqrt(share * (1 - share) / len(self.preserved))


def score(
    clean: torch.Tensor,
    corruption: Corruption,
    methods: Mapping[str, Denoiser],
    classifier: torch.nn.Module,
    seed: int = 0,
    clean_labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, Scores]]:
    """Corrupt ``clean`` (pixels in [0, 1], ``(N, 784)``) once with a generator seeded by
    ``seed``, give every denoiser only the corrupted batch, and score each estimate.

    Returns the corrupted batch and, per method, its :class:`Scores`. ``clean_labels`` (the
    classifier's labels of ``clean``) may be passed to save computing them again.
    """
    generator = torch.Generator(device=clean.device).manual_seed(seed)
    corrupted = corruption(clean, generator)
    reference = labels(classifier, clean) if clean_labels is None else clean_labels
    scores = {}
    for name, denoise in methods.items():
        estimate = denoise(corrupted.clone())  # a copy: no denoiser can alter the others' input
        scores[name] = Scores(
            mean_squared_error(estimate, clean), labels(classifier, estimate) == reference
        )
    return corrupted, scores


def summarize(results: Mapping[Corruption, Mapping[str, Scores]]) -> list[dict[str, object]]:
    """One row per corruption and method: the PSNR of the mean squared error, its standard error,
    and the share of preserved labels with its standard error (rounded for a table)."""
    rows = []
    for corruption, by_method in results.items():
        for method, s in by_method.items():
            mean, se = s.psnr()
            share, share_se = s.preserved_share()
            rows.append(
                {
                    "corruption": corruption.kind,
                    "level": corruption.level,
                    "method": method,
                    "PSNR (dB)": round(mean, 2),
                    "PSNR s.e.": round(se, 2),
                    "label kept (%)": round(100 * share, 1),
                    "kept s.e.": round(100 * share_se, 1),
                }
            )
    return rows
