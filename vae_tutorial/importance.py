"""How many of an importance sampler's draws count: the effective sample size, measured and exact.

For weights w_i = p(z_i) / r(z_i) with z_i ~ r (any constant factor, such as p(x), cancels):

    ESS = (sum_i w_i)^2 / sum_i w_i^2,      ESS / n  ->  E_r[w]^2 / E_r[w^2]  as n -> infinity.

For Gaussian p and r the limit has a closed form, :func:`gaussian_weight_second_moment`. It is
finite only where r is wide enough: the weights' variance is infinite as soon as r's variance in
some direction falls to half of p's or below (rho <= 1/2 for r = N(m, rho S)).
"""

from __future__ import annotations

import torch
from torch.distributions import MultivariateNormal

__all__ = ["effective_sample_size", "gaussian_weight_second_moment"]


def effective_sample_size(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """(sum_i w_i)^2 / sum_i w_i^2 along ``dim``, from log-weights (any constant offset cancels)."""
    w = (log_w - log_w.amax(dim=dim, keepdim=True)).exp()
    return w.sum(dim).pow(2) / w.pow(2).sum(dim)


def gaussian_weight_second_moment(p: MultivariateNormal, r: MultivariateNormal) -> torch.Tensor:
    """E_r[(p/r)^2] = integral p(z)^2 / r(z) dz for Gaussians p = N(m, S) and r = N(m', S').

    With A = 2 S^-1 - S'^-1 and u = 2 S^-1 m - S'^-1 m',

        E_r[(p/r)^2] = |S'|^(1/2) / (|S| |A|^(1/2))
                       * exp(u^T A^-1 u / 2 - m^T S^-1 m + m'^T S'^-1 m' / 2),

    and +inf where A is not positive definite. Since E_r[p/r] = 1, this is the limit of n / ESS.
    For r = N(m, rho S), the posterior's covariance scaled by rho, it is
    (rho / sqrt(2 rho - 1))^d: infinite for rho <= 1/2.
    """
    P, Q = p.precision_matrix, r.precision_matrix
    A = 2 * P - Q
    if torch.linalg.eigvalsh(A).min() <= 0:
        return torch.tensor(float("inf"), dtype=A.dtype)
    u = 2 * P @ p.loc - Q @ r.loc
    log_det = torch.logdet
    log_moment = (
        0.5 * log_det(r.covariance_matrix)
        - log_det(p.covariance_matrix)
        - 0.5 * log_det(A)
        + 0.5 * u @ torch.linalg.solve(A, u)
        - p.loc @ P @ p.loc
        + 0.5 * r.loc @ Q @ r.loc
    )
    return log_moment.exp()
