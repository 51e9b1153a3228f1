"""The latent space: where the data sits in z, paths between codes, and the prior's geometry.

A trained VAE maps each digit x to q(z|x) = N(mu(x), diag sigma^2(x)) and decodes any z to pixel
probabilities sigmoid(decode(z)). The functions here encode a data set to its posterior means,
build the grids of codes that chapter 8 decodes (prior quantiles, and an even grid for
comparison), count codes in the quantile grid's cells, interpolate between two codes (linear
and spherical), and evaluate the standard normal prior p(z) = N(0, I) and the aggregate posterior
q(z) = E_x q(z|x) on given points; and measure how much the decoder uses the code
(:func:`code_use`: the distortion with z drawn from q(z|x) against z drawn from the prior).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from vae_tutorial.data import TEST_BINARIZATION_SEED, Batches
from vae_tutorial.losses import bernoulli_log_likelihood, gaussian_log_density
from vae_tutorial.model import VAE

__all__ = [
    "encode_means",
    "decode_means",
    "traversal",
    "prior_quantile_grid",
    "even_grid",
    "quantile_cell_shares",
    "lerp",
    "slerp",
    "interpolate",
    "prior_log_density",
    "aggregate_posterior_log_density",
    "norm_quantile",
    "principal_directions",
    "CodeUse",
    "code_use",
]


@torch.no_grad()
def encode_means(
    model: VAE, images: torch.Tensor, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and log-variances of q(z|x) for ``images`` (uint8 or float in [0, 1]).

    Returns two CPU tensors of shape ``(N, d)``. The encoder sees intensities in [0, 1], as in
    training's test pass.
    """
    device = next(model.parameters()).device
    x = images.reshape(len(images), -1)
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    means, log_vars = [], []
    for start in range(0, len(x), batch_size):
        mean, log_var = model.encode(x[start : start + batch_size].to(device))
        means.append(mean.cpu())
        log_vars.append(log_var.cpu())
    return torch.cat(means), torch.cat(log_vars)


@torch.no_grad()
def decode_means(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """Decoder means E[x|z] = sigmoid(decode(z)): pixel probabilities ``(N, 784)`` on the CPU."""
    device = next(model.parameters()).device
    return torch.sigmoid(model.decode(z.reshape(-1, z.shape[-1]).float().to(device))).cpu()


def traversal(
    model: VAE, z: torch.Tensor, units: list[int], values: torch.Tensor
) -> torch.Tensor:
    """A latent traversal: decoder means for ``z`` ``(d,)`` with one unit at a time set to each
    of ``values`` and every other unit held, ``(len(units), len(values), 784)``: row r varies
    unit ``units[r]``."""
    z = z.reshape(-1).float()
    values = torch.as_tensor(values, dtype=z.dtype)
    grid = z.repeat(len(units), len(values), 1)
    for row, unit in enumerate(units):
        grid[row, :, unit] = values
    return decode_means(model, grid.reshape(-1, len(z))).reshape(len(units), len(values), -1)


def prior_quantile_grid(n: int) -> torch.Tensor:
    """An ``(n, n, 2)`` grid of z whose coordinates are quantiles of N(0, 1).

    Coordinate values are ``Phi^{-1}(u_i)`` with ``u_i = (i + 1/2) / n``, i = 0..n-1: an even grid
    in (0, 1) mapped through the inverse normal CDF, so each cell carries equal prior mass
    1 / n^2. Row r, column c holds ``(z_1, z_2) = (q_c, q_{n-1-r})``: z_1 grows to the right and
    z_2 grows upwards, as on a plot.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return _grid(norm_quantile(u))


def even_grid(n: int, half_width: float = 3.0) -> torch.Tensor:
    """An ``(n, n, 2)`` grid of z evenly spaced on ``[-half_width, half_width]^2``, laid out like
    :func:`prior_quantile_grid` (z_1 grows to the right, z_2 upwards).

    The axis is built from integers, ``(i - (n - 1) / 2) * step``, so it is exactly symmetric and,
    for odd n, its middle value is exactly 0. (``torch.linspace(-3, 3, 15)`` gives -2.98e-8 there
    on some CPUs and 0 on others, which prints as -0.00 or +0.00.)
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    offsets = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    return _grid(offsets * (2 * half_width / (n - 1)))


def _grid(axis: torch.Tensor) -> torch.Tensor:
    """The ``(n, n, 2)`` grid of one axis's values, laid out as on a plot: row r, column c holds
    ``(axis[c], axis[n - 1 - r])``."""
    n = len(axis)
    return torch.stack([axis.expand(n, n), axis.flip(0)[:, None].expand(n, n)], dim=-1).float()


def quantile_cell_shares(z: torch.Tensor, n: int) -> torch.Tensor:
    """The share of the 2-D codes ``z`` ``(N, 2)`` in each cell of the n x n quantile grid.

    Cell boundaries are the prior quantiles ``Phi^{-1}(k / n)``, so under ``z ~ N(0, I)`` every
    cell expects 1 / n^2. Returns ``(n, n)`` float32 shares summing to 1, laid out like
    :func:`prior_quantile_grid`: row 0 holds the largest z_2, column 0 the smallest z_1. A code
    far out (Phi(z) = 1 in floating point) counts in the outermost cell.
    """
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"z must have shape (N, 2), got {tuple(z.shape)}")
    u = torch.distributions.Normal(0.0, 1.0).cdf(z.double())
    cells = (u * n).long().clamp(0, n - 1)
    counts = torch.zeros(n, n, dtype=torch.float64)
    counts.index_put_(
        (n - 1 - cells[:, 1], cells[:, 0]), torch.ones(len(z), dtype=torch.float64), accumulate=True
    )
    return (counts / len(z)).float()


def norm_quantile(u: torch.Tensor) -> torch.Tensor:
    """Phi^{-1}(u), the standard normal quantile: sqrt(2) * erfinv(2u - 1)."""
    return math.sqrt(2) * torch.special.erfinv(2 * u - 1)


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1, for each t: returns ``(len(t), d)``."""
    t = torch.as_tensor(t, dtype=z0.dtype).reshape(-1, 1)
    return (1 - t) * z0 + t * z1


def slerp(
    z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-7
) -> torch.Tensor:
    """Spherical linear interpolation (Shoemake 1985; White 2016), for each t: ``(len(t), d)``.

    With Omega the angle between z0 and z1,
    ``slerp = sin((1 - t) Omega) / sin(Omega) z0 + sin(t Omega) / sin(Omega) z1``.
    Equivalently ``z(t) = cos(t Omega) z0 + sin(t Omega) w`` with
    ``w = (z1 - cos(Omega) z0) / sin(Omega)``: an arc, in the plane of z0 and z1, of an ellipse
    centred at the origin. Between points of equal norm the ellipse is a circle: the path keeps
    that norm and moves along the great circle at constant angular speed. Between unequal norms
    the norm changes smoothly but can rise above the larger of the two. When z0 and
    z1 are (nearly) parallel, sin(Omega) -> 0 and the formula tends to lerp, which is used
    instead. Exactly opposite points have no unique great circle; lerp is used there too.
    """
    t = torch.as_tensor(t, dtype=z0.dtype).reshape(-1, 1)
    cos_omega = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(eps)
    omega = torch.arccos(cos_omega.clamp(-1, 1))
    sin_omega = torch.sin(omega)
    if sin_omega.abs() < eps:
        return lerp(z0, z1, t)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / sin_omega


def interpolate(
    z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float, method: str = "slerp"
) -> torch.Tensor:
    """``lerp`` or ``slerp`` by name (the widgets' method switch)."""
    if method == "lerp":
        return lerp(z0, z1, t)
    if method == "slerp":
        return slerp(z0, z1, t)
    raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")


def prior_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) = -||z||^2 / 2 - (d / 2) log(2 pi), one value per row of z."""
    zeros = torch.zeros_like(z)
    return gaussian_log_density(z, zeros, zeros)


def aggregate_posterior_log_density(
    z: torch.Tensor, means: torch.Tensor, log_vars: torch.Tensor, batch_size: int = 512
) -> torch.Tensor:
    """log q(z) with q(z) = (1/N) sum_n N(z; mu_n, diag exp(log_var_n)): the mixture of the N
    posteriors of a data set: the aggregate posterior (the "aggregated posterior" of Makhzani et
    al., 2015; Hoffman & Johnson, 2016 split the ELBO's KL term with it).

    ``z`` is ``(M, d)``; ``means`` and ``log_vars`` are ``(N, d)``. Returns ``(M,)``.
    """
    out = []
    for start in range(0, len(z), batch_size):
        chunk = z[start : start + batch_size, None, :]  # (m, 1, d) against the N posteriors
        log_components = gaussian_log_density(chunk, means, log_vars)  # (m, N)
        out.append(torch.logsumexp(log_components, dim=1) - math.log(len(means)))
    return torch.cat(out)


def principal_directions(
    means: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of the latent means: ``(centre, directions, stds)``.

    ``centre`` is the average mean ``(d,)``; ``directions`` ``(k, d)`` are the top k unit
    eigenvectors of their covariance, largest first (each with its largest entry made positive,
    so the sign is reproducible); ``stds`` ``(k,)`` are the standard deviations along them.
    """
    centre = means.mean(0)
    centred = (means - centre).double()
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    directions = vh[:k]
    signs = torch.sign(directions.gather(1, directions.abs().argmax(1, keepdim=True)))
    directions = directions * signs
    stds = singular[:k] / math.sqrt(len(means) - 1)
    return centre, directions.to(means.dtype), stds.to(means.dtype)


class CodeUse(NamedTuple):
    """Average distortion -log p(x|z), nats per image: with the code of x, and with a prior draw."""

    posterior: float
    """z ~ q(z|x): the distortion D of the rate-distortion plane (one draw per image)."""
    prior: float
    """z ~ p(z), a code that says nothing about x: the decoder must do without x's code."""

    @property
    def gain(self) -> float:
        """``prior - posterior``: the nats of distortion the decoder saves by reading x's code
        (0 for a decoder that ignores z)."""
        return self.prior - self.posterior


@torch.no_grad()
def code_use(
    model: VAE, images: torch.Tensor, *, seed: int = 0, batch_size: int = 1000
) -> CodeUse:
    """How much the decoder uses the code: the distortion of ``images`` with z ~ q(z|x), and with
    z replaced by a draw from the prior p(z) = N(0, I).

    The images are binarized once, as in training's test pass (``"static"``, the test
    binarization seed), and scored with ``score_logits``, so an autoregressive decoder still reads
    the image's earlier pixels. A decoder that ignores z scores both the same; the more the
    reconstruction relies on the code of x, the larger ``gain``. The noise comes from a CPU
    generator seeded with ``seed``: the global random stream is left alone. Unconditional models
    only.
    """
    if model.config.n_classes:
        raise ValueError("code_use measures an unconditional VAE; this one reads labels")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    batches = Batches(
        images, batch_size=batch_size, shuffle=False, binarize="static", device=device,
        seed=TEST_BINARIZATION_SEED,
    )  # fmt: skip
    totals = torch.zeros(2, dtype=torch.float64)
    for x in batches:
        mean, log_var = model.encode(x)
        eps = torch.randn((2, *mean.shape), generator=generator, dtype=mean.dtype).to(device)
        z_posterior = mean + torch.exp(0.5 * log_var) * eps[0]
        for i, z in enumerate((z_posterior, eps[1])):
            log_p = bernoulli_log_likelihood(model.score_logits(z, x), x)
            totals[i] -= log_p.double().sum().cpu()
    totals /= len(images)
    return CodeUse(posterior=totals[0].item(), prior=totals[1].item())
