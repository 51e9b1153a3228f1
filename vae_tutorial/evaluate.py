"""Honest evaluation: the importance-weighted bound on log p(x), and posterior-collapse diagnostics.

The importance-weighted bound (Burda, Grosse & Salakhutdinov, 2016) with k samples from q(z|x):

    L_k(x) = E[ log (1/k) sum_i p(x, z_i) / q(z_i | x) ] <= log p(x),

is the ELBO at k = 1, never decreases in expectation as k grows, and tends to log p(x) as k -> inf.
With k = 5,000 it is the standard estimate of a VAE's test log-likelihood on MNIST.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vae_tutorial.data import TEST_BINARIZATION_SEED, Batches, as_batch
from vae_tutorial.losses import gaussian_log_density
from vae_tutorial.model import VAE

__all__ = [
    "bernoulli_log_likelihood_fast",
    "log_importance_weights",
    "iwae_bound",
    "log_likelihood",
    "kl_per_dimension",
    "active_units",
    "paired_difference",
]


DECODE_ROWS = 250
"""Rows (samples x images) decoded at a time on a CPU: enough for fast matrix and convolution
products, few enough that a block's tensors stay in the processor's cache: ``(rows, 784)`` pixels
(0.8 MB), or a convolutional decoder's ``(rows, 32, 14, 14)`` maps (6.3 MB). Blocks of 1,000 rows
were slower for both reference models, most for the convolutional one (``benchmarks/README.md``)."""


def bernoulli_log_likelihood_fast(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """:func:`~vae_tutorial.losses.bernoulli_log_likelihood`, faster, for evaluation (no gradients).

    ``log p(x | z) = sum_j x_j l_j - softplus(l_j)`` for the logits ``l``, with
    ``softplus(l) = max(l, 0) + log(1 + exp(-|l|))``. ``x`` broadcasts against ``logits`` from the
    right (no copy of it per sample), and ``log(1 + u)`` for ``u = exp(-|l|)`` in (0, 1] is taken
    with ``log``, several times faster than ``log1p`` on a CPU (``benchmarks/eval_anatomy.py``):
    the two differ by at most about 1e-7 per pixel, one float32 rounding step of ``1 + u``.
    """
    return (
        (logits * x).sum(-1)
        - F.relu(logits).sum(-1)
        - torch.log(torch.exp(-logits.abs()).add_(1)).sum(-1)
    )


@torch.no_grad()
def log_importance_weights(
    model: VAE,
    x: torch.Tensor,
    k: int,
    *,
    generator: torch.Generator | None = None,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """log w_i = log p(x, z_i) - log q(z_i | x) for k draws z_i ~ q(z|x): ``(k, batch)``, nats.

    ``log p(x, z) = log p(x | z) + log p(z)``, with ``model.prior.log_prob`` (N(0, I) by
    default). For a conditional VAE, with the labels
    ``y``: log p(x, z | y) - log q(z | x, y), whose bound is on log p(x | y). The noise is drawn
    on the CPU, so a seeded ``generator`` gives the same weights on any device. On a CPU the
    draws are decoded ``DECODE_ROWS`` rows at a time (the same numbers, less memory traffic).
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    mean, log_var = model.encode(x, y)
    eps = torch.randn((k, *mean.shape), generator=generator, dtype=mean.dtype).to(x.device)
    z = mean + torch.exp(0.5 * log_var) * eps  # (k, batch, d)
    log_prior_over_q = model.prior.log_prob(z) - gaussian_log_density(z, mean, log_var)
    samples = max(1, DECODE_ROWS // len(x)) if x.device.type == "cpu" else k
    log_px = torch.cat(
        [
            bernoulli_log_likelihood_fast(model.score_logits(part, x, y), x)
            for part in z.split(samples)
        ]
    )
    return log_px + log_prior_over_q


@torch.no_grad()
def iwae_bound(
    model: VAE,
    x: torch.Tensor,
    k: int,
    *,
    chunk: int = 250,
    generator: torch.Generator | None = None,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """One estimate of L_k(x) = log (1/k) sum_i w_i per example, ``(batch,)``, in nats.

    The k weights are drawn ``chunk`` at a time and combined with a running log-sum-exp, so memory
    stays at ``chunk * batch * 784`` floats whatever k is. With labels ``y`` (a conditional VAE)
    it bounds log p(x | y).
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    running = torch.full((len(x),), -math.inf, dtype=torch.float64, device=x.device)
    for start in range(0, k, chunk):
        log_w = log_importance_weights(model, x, min(chunk, k - start), generator=generator, y=y)
        running = torch.logaddexp(running, torch.logsumexp(log_w.double(), dim=0))
    return running - math.log(k)


def log_likelihood(
    model: VAE,
    images: torch.Tensor,
    k: int,
    *,
    batch_size: int = 100,
    seed: int = 0,
    binarization_seed: int = TEST_BINARIZATION_SEED,
    progress: bool = False,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_k for every image (``uint8``, binarized once, with a fixed seed): ``(N,)`` float64, CPU.

    The mean of the result is the estimate of the average test log-likelihood; its negative is the
    NLL quoted in papers. A conditional VAE needs the images' ``labels`` and bounds log p(x | y).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    _check_labels(model, images, labels)
    batches = Batches(
        images,
        labels,
        batch_size=batch_size,
        shuffle=False,
        binarize="static",
        device=device,
        seed=binarization_seed,
        with_labels=labels is not None,
    )
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, min(k, 25_000 // batch_size))
    out = [
        iwae_bound(model, batch.x, k, chunk=chunk, generator=generator, y=batch.y).cpu()
        for batch in map(as_batch, tqdm(batches, desc=f"L_{k}", leave=False, disable=not progress))
    ]
    model.train(was_training)
    return torch.cat(out)


def _check_labels(model: VAE, images: torch.Tensor, labels: torch.Tensor | None) -> None:
    if model.config.n_classes and labels is None:
        raise ValueError(
            f"this {model.config.describe()} bounds log p(x | y): pass the images' labels "
            "(labels=data.test_labels)"
        )
    if labels is not None and labels.shape != (len(images),):
        raise ValueError(
            f"labels must hold one label per image: {tuple(labels.shape)} for {len(images)} images"
        )


@torch.no_grad()
def _posterior_means_and_kl(
    model: VAE, images: torch.Tensor, batch_size: int = 1000, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    device = next(model.parameters()).device
    _check_labels(model, images, labels)
    generator = torch.Generator().manual_seed(0)  # for a prior whose KL is a Monte Carlo estimate
    means, kls = [], []
    for item in Batches(
        images,
        labels,
        batch_size=batch_size,
        shuffle=False,
        binarize="static",
        device=device,
        seed=TEST_BINARIZATION_SEED,
        with_labels=labels is not None,
    ):
        batch = as_batch(item)
        mean, log_var = model.encode(batch.x, batch.y)
        means.append(mean.cpu())
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(device)
        z = mean + torch.exp(0.5 * log_var) * eps  # unused by N(0, I)'s closed form
        kls.append(model.prior.kl_per_dimension(z, mean, log_var).cpu())
    return torch.cat(means), torch.cat(kls)


def kl_per_dimension(
    model: VAE, images: torch.Tensor, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Average KL(q(z_j|x) || p(z_j)) of each latent dimension j over the images, ``(d,)``.

    For N(0, I), the terms of :func:`~vae_tutorial.losses.gaussian_kl` before the sum: a
    dimension whose KL is near 0 carries no information about x (it has collapsed to the prior).
    Another prior gives ``model.prior.kl_per_dimension``, a one-draw estimate per image.
    """
    _, kls = _posterior_means_and_kl(model, images, labels=labels)
    return kls.mean(0)


def active_units(
    model: VAE,
    images: torch.Tensor,
    threshold: float = 0.01,
    labels: torch.Tensor | None = None,
) -> tuple[int, torch.Tensor]:
    """Burda et al.'s active units: dimension u is active if Cov_x( E_q[z_u] ) > ``threshold``.

    Returns the count and the variance across images of each dimension's posterior mean.
    """
    means, _ = _posterior_means_and_kl(model, images, labels=labels)
    activity = means.var(0)
    return int((activity > threshold).sum()), activity


def paired_difference(
    a: torch.Tensor | list[float], b: torch.Tensor | list[float]
) -> tuple[float, float]:
    """The mean of a_i - b_i over the same n digits, and its standard error sd(a - b) / sqrt(n).

    Two models scored on the same digits share each digit's difficulty: a digit that is hard for
    one is usually hard for the other, so the differences vary much less than either model's
    values, and the standard error of the mean difference is that much smaller than the two
    models' own standard errors combined (which would treat them as independent samples).
    """
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.dim() != 1 or len(a) < 2:
        raise ValueError(
            f"paired values need the same digits in both: two 1-D tensors of equal length >= 2, "
            f"got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    difference = a - b
    return difference.mean().item(), (difference.std() / len(difference) ** 0.5).item()
