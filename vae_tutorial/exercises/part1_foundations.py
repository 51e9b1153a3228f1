"""Checks for Part I, Foundations (chapters 1-4): MNIST, latent-variable models, the ELBO and
the reparameterization trick."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch

from ._checking import (
    ExerciseError,
    _as_tensor,
    _close,
    _generator,
    _likely_mistake,
    _main_then_edge_cases,
    _sample_digits,
    _shape,
    _versus,
)

__all__ = [
    "check_class_means",
    "check_expected_ink",
    "check_linear_gaussian_log_marginal",
    "check_log_mean_exp",
    "check_gaussian_kl",
    "check_bernoulli_log_likelihood",
    "check_reparameterize",
    "check_score_function",
]


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
            "Not yet: by linearity of expectation, E[Σ bits] = Σ P(bit = 1) = Σ intensities. "
            + _likely_mistake(got, want)
        )
    print("Correct: the expected number of ink pixels is the sum of the intensities.")


def check_linear_gaussian_log_marginal(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise: ``fn(x, W, b, sigma)`` returns log p(x) = log N(x; b, W W^T + sigma^2 I)."""
    from torch.distributions import MultivariateNormal

    from vae_tutorial.linear_gaussian import LinearGaussian

    model = LinearGaussian.random(data_dim=3, latent_dim=2, sigma=0.7, seed=4)
    _, x = model.sample(5, _generator(0))
    got = _as_tensor(fn(x, model.W, model.b, model.sigma), "log_marginal(x, W, b, sigma)")
    want = model.log_marginal(x)
    _shape(got, want, "One log p(x) per row of x")
    eye = torch.eye(3, dtype=torch.float64)
    WWt = model.W @ model.W.T
    if _close(got, MultivariateNormal(model.b, WWt + model.sigma * eye).log_prob(x)):
        raise ExerciseError("The noise variance is sigma**2, not sigma.")
    if _close(got, MultivariateNormal(model.b, WWt + 1e-9 * eye).log_prob(x), rtol=1e-3):
        raise ExerciseError("The covariance also needs the observation noise: W W^T + sigma^2 I.")
    if not _close(got, want):
        raise ExerciseError(
            "Not yet: x = W z + b + noise is Gaussian with mean b and covariance "
            "W W^T + sigma^2 I. " + _likely_mistake(got, want)
        )
    print("Correct: the integral over z, in closed form.")


def check_log_mean_exp(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(log_w)`` returns log(mean(exp(log_w))) of a 1-D tensor, stably."""
    from vae_tutorial.losses import log_mean_exp

    g = _generator(0)
    moderate = torch.randn(50, generator=g, dtype=torch.float64)
    tiny = moderate * 5 - 1_000.0  # log-likelihoods of a real model are this small
    for log_w in (moderate, tiny):
        got = _as_tensor(fn(log_w), "log_mean_exp(log_w)").reshape(())
        want = log_mean_exp(log_w)
        if torch.isinf(got) or torch.isnan(got):
            raise ExerciseError(
                "exp() underflowed to 0 (log-weights near -1000): subtract the largest log-weight "
                "before exponentiating, or use torch.logsumexp."
            )
        if torch.allclose(got, torch.logsumexp(log_w, 0)):
            raise ExerciseError("That is log-SUM-exp; the mean needs one more term: - log(n).")
        versus = f"Expected {want.item():.6f}, got {got.item():.6f}."
        n = len(log_w)
        if torch.allclose(got.double(), want + 2 * math.log(n)):
            raise ExerciseError(
                f"The constant has the wrong sign: + log(n), not - log(n). {versus}"
            )
        if torch.allclose(got.double(), want + math.log(n) - math.log(n - 1)):
            raise ExerciseError(f"Subtract log(n), not log(n - 1): the mean of n terms. {versus}")
        if not torch.allclose(got.double(), want, rtol=1e-9, atol=1e-9):
            raise ExerciseError(f"Not yet: log(1/n sum_i exp(log_w_i)). {versus}")
    print("Correct: stable even when every weight underflows to 0 in floating point.")


def check_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(mean, log_var)`` gives KL(N(mean, diag exp(log_var)) || N(0, I)) per row."""
    _main_then_edge_cases(
        partial(_gaussian_kl_main_case, fn),
        partial(_gaussian_kl_edge_case, fn),
        "Correct: the closed-form KL, one value per example.",
    )


def _gaussian_kl_main_case(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    from vae_tutorial.losses import gaussian_kl

    g = _generator(0)
    mean, log_var = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    got = _as_tensor(fn(mean, log_var), "gaussian_kl(mean, log_var)")
    want = gaussian_kl(mean, log_var)
    if _close(got, want.mean()) or got.numel() == 1:
        raise ExerciseError(
            "Return one KL per example, shape (batch,): sum over latent dimensions only."
        )
    per_dim = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp())
    if _close(got, per_dim) or _close(got, per_dim.mean(-1)):
        raise ExerciseError(
            "Sum (don't average, don't keep) the latent dimensions: shape (batch,)."
        )
    _shape(got, want, "KL per example")
    if _close(got, 2 * want):
        raise ExerciseError(
            "Off by a factor of 2: the closed form starts with -1/2. " + _versus(got, want)
        )
    if _close(got, -want):
        raise ExerciseError("Wrong sign: a KL divergence is never negative. " + _versus(got, want))
    var_as_std = -0.5 * torch.sum(
        1 + 2 * torch.log(log_var.abs()) - mean.pow(2) - log_var.pow(2), -1
    )
    if _close(got, var_as_std):
        raise ExerciseError(
            "log_var is log(sigma^2): sigma^2 = exp(log_var); it is not sigma itself."
        )
    if not _close(got, want):
        raise ExerciseError(
            "Not yet: KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2). "
            + _likely_mistake(got, want, batch=len(mean))
        )


def _gaussian_kl_edge_case(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    mean: torch.Tensor,
    log_var: torch.Tensor,
    what: str,
) -> None:
    from vae_tutorial.losses import gaussian_kl

    got = _as_tensor(fn(mean, log_var), "gaussian_kl(mean, log_var)")
    want = gaussian_kl(mean, log_var)
    if got.shape != (1,):
        raise ExerciseError(
            f"For {what} (one example) return shape (1,), one KL; got {tuple(got.shape)}."
        )
    if not torch.isfinite(got).all():
        raise ExerciseError(f"Your KL is not finite for {what}; it should be {want.item():.6g}.")
    if (got < -1e-9).any():
        raise ExerciseError(
            f"Your KL is negative for {what}: {got.item():.4g}. A KL is never negative."
        )
    if not _close(got, want, rtol=1e-5):
        raise ExerciseError(f"For {what} the KL is {want.item():.6g}; you gave {got.item():.6g}.")


def check_bernoulli_log_likelihood(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> None:
    """Exercise: ``fn(logits, x)`` returns log p(x|z) per example, summed over pixels."""
    from vae_tutorial.losses import bernoulli_log_likelihood

    g = _generator(0)
    logits = 3 * torch.randn(6, 784, generator=g)
    x = torch.bernoulli(torch.full((6, 784), 0.2), generator=g)
    got = _as_tensor(fn(logits, x), "bernoulli_log_likelihood(logits, x)")
    want = bernoulli_log_likelihood(logits, x)
    if got.shape == x.shape:
        raise ExerciseError(
            "Sum over the 784 pixels: one log-likelihood per example, shape (batch,)."
        )
    _shape(got, want, "log p(x|z) per example")
    if _close(got, -want):
        raise ExerciseError(
            "Wrong sign: binary cross-entropy is the NEGATIVE log-likelihood. " + _versus(got, want)
        )
    if _close(got, want / 784) or _close(got, -want / 784):
        raise ExerciseError(
            "You averaged over pixels; the log-likelihood of an image is the SUM over pixels."
        )
    double = bernoulli_log_likelihood(torch.sigmoid(logits), x)
    if _close(got, double) or _close(got, -double):
        raise ExerciseError(
            "The input is already logits: don't apply sigmoid before a *_with_logits loss."
        )
    if not _close(got, want, rtol=1e-4, atol=1e-3):
        raise ExerciseError(
            "Not yet: sum_j x_j log(lambda_j) + (1 - x_j) log(1 - lambda_j), "
            "with lambda = sigmoid(logits). " + _likely_mistake(got, want)
        )
    extreme = torch.tensor([[-100.0, -30.0, 0.0, 30.0, 100.0] * 2])  # one example, 10 pixels
    x = torch.tensor([[0.0] * 5 + [1.0] * 5])
    got = _as_tensor(fn(extreme, x), "bernoulli_log_likelihood(logits, x)")
    want = bernoulli_log_likelihood(extreme, x)
    if got.shape != (1,):
        raise ExerciseError(f"For a batch of one image return shape (1,), got {tuple(got.shape)}.")
    if not torch.isfinite(got).all():
        raise ExerciseError(
            "Not finite for logits of +-100: sigmoid(100) rounds to 1, and log(1 - 1) = -inf. "
            "Work with the logits (binary_cross_entropy_with_logits, or F.logsigmoid)."
        )
    if not _close(got, want, rtol=1e-4, atol=1e-3):
        raise ExerciseError(
            f"For logits of +-30 and +-100 the log-likelihood is {want.item():.6g}; you gave "
            f"{got.item():.6g}. Work with the logits, not with sigmoid(logits)."
        )
    print("Correct: log p(x|z) in nats, from logits.")


def check_reparameterize(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> None:
    """Exercise: ``fn(mean, log_var, eps)`` gives z = mean + exp(log_var / 2) * eps."""
    _main_then_edge_cases(
        partial(_reparameterize_main_case, fn),
        partial(_reparameterize_edge_case, fn),
        "Correct: z is a differentiable function of mean and log_var; the noise is outside.",
    )


def _reparameterize_main_case(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> None:
    g = _generator(0)
    mean = torch.randn(4, 3, generator=g).requires_grad_()
    log_var = torch.randn(4, 3, generator=g).requires_grad_()
    eps = torch.randn(4, 3, generator=g)
    got = _as_tensor(fn(mean, log_var, eps), "reparameterize(mean, log_var, eps)")
    want = mean + torch.exp(0.5 * log_var) * eps
    _shape(got, want, "z")
    if _close(got, mean + torch.exp(log_var) * eps):
        raise ExerciseError(
            "exp(log_var) is the variance; the standard deviation is exp(log_var / 2): a "
            "missing 1/2 in the exponent. " + _versus(got, want)
        )
    if _close(got, mean + log_var * eps):
        raise ExerciseError(
            "log_var is a log-variance: turn it into sigma = exp(log_var / 2) first."
        )
    if not _close(got, want):
        raise ExerciseError(
            "Not yet: z = mu + sigma * eps with sigma = exp(log_var / 2). "
            + _likely_mistake(got, want)
        )
    if not got.requires_grad:
        raise ExerciseError(
            "z has no gradient: build it from mean and log_var with torch operations."
        )
    d_mean, d_log_var = torch.autograd.grad(got.sum(), [mean, log_var])
    if not (
        _close(d_mean, torch.ones_like(mean))
        and _close(d_log_var, 0.5 * torch.exp(0.5 * log_var) * eps)
    ):
        raise ExerciseError(
            "The values are right but the gradients are not: don't detach or copy via .data."
        )


def _reparameterize_edge_case(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    mean: torch.Tensor,
    log_var: torch.Tensor,
    what: str,
) -> None:
    eps = torch.tensor([[1.5, -0.5, 0.25]], dtype=torch.float64)
    got = _as_tensor(fn(mean, log_var, eps), "reparameterize(mean, log_var, eps)")
    want = mean + torch.exp(0.5 * log_var) * eps
    if got.shape != want.shape or not _close(got, want, rtol=1e-6, atol=1e-12):
        raise ExerciseError(
            f"For {what}, z should be {want.flatten().tolist()}, you gave "
            f"{got.detach().flatten().tolist()}."
        )


def check_score_function(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise: ``fn(f, mu, sigma, z)`` gives per-sample score-function estimates of d/dmu E[f]."""

    def f(z: torch.Tensor) -> torch.Tensor:
        return torch.sin(z) + z**2

    mu, sigma = 0.4, 0.8
    z = mu + sigma * torch.randn(200_000, generator=_generator(0), dtype=torch.float64)
    got = _as_tensor(fn(f, mu, sigma, z), "score_estimates(f, mu, sigma, z)")
    want = f(z) * (z - mu) / sigma**2
    _shape(got, want, "one estimate per sample")
    if _close(got, f(z) * (z - mu)):
        raise ExerciseError("d/dmu log N(z; mu, sigma^2) = (z - mu) / sigma^2: divide by sigma**2.")
    if _close(got, f(z) * (z - mu) / sigma):
        raise ExerciseError("Divide by the variance sigma**2, not by sigma.")
    if _close(got, torch.cos(z) + 2 * z):
        raise ExerciseError(
            "That is the pathwise estimate f'(z); the score function uses only f(z)."
        )
    if not _close(got, want):
        raise ExerciseError(
            "Not yet: the estimate is f(z) * d/dmu log N(z; mu, sigma^2). "
            + _likely_mistake(got, want)
        )
    true = torch.tensor(mu).cos() * torch.exp(torch.tensor(-(sigma**2) / 2)) + 2 * mu
    print(
        f"Correct: mean of the estimates {got.mean():.3f} ± {got.std() / len(z) ** 0.5:.3f};"
        f" exact {true:.3f}."
    )
