"""A latent-variable model in which everything is analytic: probabilistic PCA.

    z ~ N(0, I_d),    x | z ~ N(W z + b, sigma^2 I_D)

(Tipping & Bishop, 1999). Its evidence, its posterior and the ELBO of any Gaussian q have closed
forms, so every claim about the ELBO can be checked to the last printed digit. All computations use
float64 on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import MultivariateNormal, kl_divergence

from vae_tutorial.losses import LOG_2PI, gaussian_kl, log_mean_exp

__all__ = ["LinearGaussian"]


def _f64(t: torch.Tensor | float) -> torch.Tensor:
    return torch.as_tensor(t, dtype=torch.float64)


@dataclass(frozen=True)
class LinearGaussian:
    """Linear-Gaussian model: decoder weights ``W`` (D × d), offset ``b`` (D), noise ``sigma``."""

    W: torch.Tensor
    b: torch.Tensor
    sigma: float

    def __post_init__(self) -> None:
        if self.W.dim() != 2 or self.b.shape != (self.W.shape[0],):
            raise ValueError(
                f"W must be (D, d) and b (D,); got W {tuple(self.W.shape)}, b {tuple(self.b.shape)}"
            )
        if not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
        object.__setattr__(self, "W", _f64(self.W))
        object.__setattr__(self, "b", _f64(self.b))

    @classmethod
    def random(
        cls, data_dim: int, latent_dim: int, sigma: float = 0.5, seed: int = 0
    ) -> LinearGaussian:
        """A model with standard-normal weights and offsets, reproducible from ``seed``."""
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(data_dim, latent_dim, generator=g, dtype=torch.float64)
        b = torch.randn(data_dim, generator=g, dtype=torch.float64)
        return cls(W, b, sigma)

    @property
    def data_dim(self) -> int:
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` pairs (z, x) from the joint: first z from the prior, then x given z."""
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=torch.float64)
        return z, z @ self.W.T + self.b + self.sigma * noise

    # Exact quantities --------------------------------------------------------------------------

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W W^T + sigma^2 I): the integral over z done in closed form."""
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(self.data_dim, dtype=torch.float64)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x), exactly."""
        return self.marginal().log_prob(_f64(x))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = log N(x; W z + b, sigma^2 I); ``z`` may carry extra leading dimensions."""
        residual = _f64(x) - (_f64(z) @ self.W.T + self.b)
        return -0.5 * (
            self.data_dim * (LOG_2PI + 2 * math.log(self.sigma))
            + residual.pow(2).sum(-1) / self.sigma**2
        )

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = log N(z; 0, I)."""
        z = _f64(z)
        return -0.5 * (self.latent_dim * LOG_2PI + z.pow(2).sum(-1))

    def posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """p(z | x) = N(m, S) with S = (I + W^T W / sigma^2)^-1 and m = S W^T (x - b) / sigma^2."""
        precision = (
            torch.eye(self.latent_dim, dtype=torch.float64) + self.W.T @ self.W / self.sigma**2
        )
        cov = torch.linalg.inv(precision)
        mean = (_f64(x) - self.b) @ self.W @ cov.T / self.sigma**2
        return MultivariateNormal(mean, covariance_matrix=cov)

    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor, q_log_var: torch.Tensor) -> torch.Tensor:
        """Exact ELBO(q) = E_q[log p(x|z)] - KL(q || p(z)) for q = N(mu, diag v).

        ``q_mean`` is mu, ``q_log_var`` is log v. With z = mu + sqrt(v) * eps,
        E_q ||x - W z - b||^2 = ||x - W mu - b||^2 + sum_j v_j ||W_:j||^2.
        """
        x, q_mean, q_log_var = _f64(x), _f64(q_mean), _f64(q_log_var)
        residual = x - (q_mean @ self.W.T + self.b)
        spread = (q_log_var.exp() * self.W.pow(2).sum(0)).sum(-1)
        expected_log_lik = -0.5 * (
            self.data_dim * (LOG_2PI + 2 * math.log(self.sigma))
            + (residual.pow(2).sum(-1) + spread) / self.sigma**2
        )
        return expected_log_lik - gaussian_kl(q_mean, q_log_var)

    def kl_to_posterior(
        self, x: torch.Tensor, q_mean: torch.Tensor, q_log_var: torch.Tensor
    ) -> torch.Tensor:
        """KL( q(z) || p(z | x) ) in closed form (``torch.distributions``)."""
        q = MultivariateNormal(
            _f64(q_mean), covariance_matrix=torch.diag_embed(_f64(q_log_var).exp())
        )
        return kl_divergence(q, self.posterior(x))

    # Monte Carlo estimates ---------------------------------------------------------------------

    def prior(self) -> MultivariateNormal:
        """p(z) = N(0, I_d), as a distribution (a proposal for naive Monte Carlo)."""
        zeros = torch.zeros(self.latent_dim, dtype=torch.float64)
        return MultivariateNormal(zeros, scale_tril=torch.eye(self.latent_dim, dtype=torch.float64))

    def importance_log_weights(
        self,
        x: torch.Tensor,
        n: int,
        proposal: MultivariateNormal | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log w_i = log p(x, z_i) - log r(z_i) for n draws z_i ~ r; by default r = p(z | x).

        The one sampler behind both evidence estimators: E_r[w] = p(x) for any r that covers the
        posterior, and the log of the average of the w_i estimates log p(x). With r = p(z) the
        weights are the likelihoods p(x | z_i) (naive Monte Carlo); with r = p(z | x) every weight
        equals p(x).
        """
        r = proposal if proposal is not None else self.posterior(x)
        eps = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        z = r.loc + eps @ r.scale_tril.T
        return self.log_likelihood(_f64(x), z) + self.log_prior(z) - r.log_prob(z)

    def naive_log_marginal(
        self, x: torch.Tensor, n: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """log of (1/n) sum_i p(x | z_i) with z_i ~ p(z): Monte Carlo over the prior."""
        return log_mean_exp(self.importance_log_weights(x, n, self.prior(), generator))

    def importance_log_marginal(
        self,
        x: torch.Tensor,
        n: int,
        proposal: MultivariateNormal | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log of (1/n) sum_i p(x, z_i) / r(z_i) with z_i ~ r; by default r is the exact posterior.

        Any r that covers the posterior gives an unbiased estimate of p(x) (its log is biased
        downward, by Jensen's inequality); the closer r is to p(z | x), the smaller its variance
        (zero at r = p(z|x)).
        """
        return log_mean_exp(self.importance_log_weights(x, n, proposal, generator))
