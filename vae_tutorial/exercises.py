"""Checks for the chapters' exercises.

Each check calls the student's function on fresh inputs, compares it with a reference, and
either prints a short confirmation or raises :class:`ExerciseError` with a hint that says what is
wrong (a shape, a scale, a sign) rather than a bare ``AssertionError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = [
    "ExerciseError",
    "check_class_means",
    "check_expected_ink",
    "check_log_mean_exp",
    "check_linear_gaussian_log_marginal",
    "check_gaussian_kl",
    "check_bernoulli_log_likelihood",
    "check_reparameterize",
    "check_score_function",
    "check_count_parameters",
    "check_train_step",
    "check_iwae_from_log_weights",
    "check_slerp",
    "check_quantile_cell_shares",
    "check_unsure_shares",
    "check_psnr",
    "check_salt_and_pepper",
    "check_negative_elbo",
    "check_kl_weight",
    "check_free_bits_kl",
    "check_class_posterior",
    "check_conv_side",
]


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


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    return got.shape == want.shape and torch.allclose(
        got.double(), want.double(), rtol=rtol, atol=atol
    )


def _shape(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    if got.shape != want.shape:
        raise ExerciseError(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}.")


# Edge cases every per-example check runs once the main case passes: a batch of one, and
# log-variances far from 0 (a collapsed dimension's, and an exploding one's).
_EDGE_LOG_VARS = ((0.0, "mean = 0, log_var = 0"), (1.0, "mean = 0, log_var = 1"),
                  (-20.0, "log_var = -20"), (20.0, "log_var = 20"))  # fmt: skip


def _edge_inputs() -> list[tuple[torch.Tensor, torch.Tensor, str]]:
    """(mean, log_var, description): one example of 3 dimensions each, float64."""
    cases = [
        (torch.zeros(1, 3, dtype=torch.float64), torch.full((1, 3), v, dtype=torch.float64), what)
        for v, what in _EDGE_LOG_VARS
    ]
    g = torch.Generator().manual_seed(5)
    mean, log_var = (torch.randn(1, 3, generator=g, dtype=torch.float64) for _ in range(2))
    cases.append((mean, log_var, "a batch of one"))
    return cases


def check_log_mean_exp(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(log_w)`` returns log(mean(exp(log_w))) of a 1-D tensor, stably."""
    from vae_tutorial.losses import log_mean_exp

    g = torch.Generator().manual_seed(0)
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
        if not torch.allclose(got.double(), want, rtol=1e-9, atol=1e-9):
            raise ExerciseError(f"Expected {want.item():.6f}, got {got.item():.6f}.")
    print("Correct: stable even when every weight underflows to 0 in floating point.")


def check_linear_gaussian_log_marginal(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise: ``fn(x, W, b, sigma)`` returns log p(x) = log N(x; b, W W^T + sigma^2 I)."""
    from torch.distributions import MultivariateNormal

    from vae_tutorial.linear_gaussian import LinearGaussian

    model = LinearGaussian.random(data_dim=3, latent_dim=2, sigma=0.7, seed=4)
    _, x = model.sample(5, torch.Generator().manual_seed(0))
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
            "Not yet: x = W z + b + noise is Gaussian with mean b and covariance W W^T + sigma^2 I."
        )
    print("Correct: the integral over z, in closed form.")


def check_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(mean, log_var)`` gives KL(N(mean, diag exp(log_var)) || N(0, I)) per row."""
    from vae_tutorial.losses import gaussian_kl

    g = torch.Generator().manual_seed(0)
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
        raise ExerciseError("Off by a factor of 2: the closed form starts with -1/2.")
    if _close(got, -want):
        raise ExerciseError("Wrong sign: a KL divergence is never negative.")
    var_as_std = -0.5 * torch.sum(
        1 + 2 * torch.log(log_var.abs()) - mean.pow(2) - log_var.pow(2), -1
    )
    if _close(got, var_as_std):
        raise ExerciseError(
            "log_var is log(sigma^2): sigma^2 = exp(log_var); it is not sigma itself."
        )
    if not _close(got, want):
        raise ExerciseError("Not yet: KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2).")
    for mean, log_var, what in _edge_inputs():
        got = _as_tensor(fn(mean, log_var), "gaussian_kl(mean, log_var)")
        want = gaussian_kl(mean, log_var)
        if got.shape != (1,):
            raise ExerciseError(
                f"For {what} (one example) return shape (1,), one KL; got {tuple(got.shape)}."
            )
        if not torch.isfinite(got).all():
            raise ExerciseError(
                f"Your KL is not finite for {what}; it should be {want.item():.6g}."
            )
        if (got < -1e-9).any():
            raise ExerciseError(
                f"Your KL is negative for {what}: {got.item():.4g}. A KL is never negative."
            )
        if not _close(got, want, rtol=1e-5):
            raise ExerciseError(
                f"For {what} the KL is {want.item():.6g}; you gave {got.item():.6g}."
            )
    print("Correct: the closed-form KL, one value per example.")


def check_bernoulli_log_likelihood(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> None:
    """Exercise: ``fn(logits, x)`` returns log p(x|z) per example, summed over pixels."""
    from vae_tutorial.losses import bernoulli_log_likelihood

    g = torch.Generator().manual_seed(0)
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
        raise ExerciseError("Wrong sign: binary cross-entropy is the NEGATIVE log-likelihood.")
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
            "with lambda = sigmoid(logits)."
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
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 3, generator=g).requires_grad_()
    log_var = torch.randn(4, 3, generator=g).requires_grad_()
    eps = torch.randn(4, 3, generator=g)
    got = _as_tensor(fn(mean, log_var, eps), "reparameterize(mean, log_var, eps)")
    want = mean + torch.exp(0.5 * log_var) * eps
    _shape(got, want, "z")
    if _close(got, mean + torch.exp(log_var) * eps):
        raise ExerciseError(
            "exp(log_var) is the variance; the standard deviation is exp(log_var / 2)."
        )
    if _close(got, mean + log_var * eps):
        raise ExerciseError(
            "log_var is a log-variance: turn it into sigma = exp(log_var / 2) first."
        )
    if not _close(got, want):
        raise ExerciseError("Not yet: z = mu + sigma * eps with sigma = exp(log_var / 2).")
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
    for mean, log_var, what in _edge_inputs():
        eps = torch.tensor([[1.5, -0.5, 0.25]], dtype=torch.float64)
        got = _as_tensor(fn(mean, log_var, eps), "reparameterize(mean, log_var, eps)")
        want = mean + torch.exp(0.5 * log_var) * eps
        if got.shape != want.shape or not _close(got, want, rtol=1e-6, atol=1e-12):
            raise ExerciseError(
                f"For {what}, z should be {want.flatten().tolist()}, you gave "
                f"{got.detach().flatten().tolist()}."
            )
    print("Correct: z is a differentiable function of mean and log_var; the noise is outside.")


def check_score_function(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise: ``fn(f, mu, sigma, z)`` gives per-sample score-function estimates of d/dmu E[f]."""

    def f(z: torch.Tensor) -> torch.Tensor:
        return torch.sin(z) + z**2

    mu, sigma = 0.4, 0.8
    z = mu + sigma * torch.randn(
        200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
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
        raise ExerciseError("Not yet: the estimate is f(z) * d/dmu log N(z; mu, sigma^2).")
    true = torch.tensor(mu).cos() * torch.exp(torch.tensor(-(sigma**2) / 2)) + 2 * mu
    print(
        f"Correct: mean of the estimates {got.mean():.3f} ± {got.std() / len(z) ** 0.5:.3f};"
        f" exact {true:.3f}."
    )


def check_count_parameters(fn: Callable[[int, tuple[int, ...], int], int]) -> None:
    """Exercise: ``fn(input_dim, hidden_dims, latent_dim)`` counts an MLP VAE's parameters."""
    from vae_tutorial.model import VAE, VAEConfig

    cases = [(784, (400,), 20), (784, (200, 200), 50), (784, (256,), 2), (10, (), 1), (5, (3,), 1)]
    for input_dim, hidden, d in cases:
        got = fn(input_dim, hidden, d)
        config = VAEConfig(latent_dim=d, hidden_dims=hidden, input_dim=input_dim)
        want = sum(p.numel() for p in VAE(config).parameters())
        if not isinstance(got, int | torch.Tensor) or int(got) != want:
            sizes = "-".join(map(str, (input_dim, *hidden, d)))
            widths = [input_dim, *hidden]
            no_bias = want - sum(widths[1:]) - 2 * d - sum(reversed(widths[1:])) - input_dim
            hint = "Count both heads, to_mean and to_log_var, and both halves of the network."
            if got == no_bias:
                hint = "Every nn.Linear(n_in, n_out) also has n_out biases."
            elif got == want - (widths[-1] * d + d):
                hint = "The encoder has two heads of the same size: mean and log-variance."
            raise ExerciseError(f"For {sizes}: you count {got}, PyTorch counts {want:,}. {hint}")
    print("Correct: your count matches PyTorch's for five shapes, including no hidden layer.")


def check_train_step(fn: Callable[..., float]) -> None:
    """Exercise: ``fn(model, optimizer, x)`` takes one Adam step on the negative ELBO of ``x``."""
    from vae_tutorial.model import VAE, VAEConfig

    def make() -> tuple[VAE, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = VAE(VAEConfig(latent_dim=3, hidden_dims=(16,)))
        return model, torch.optim.Adam(model.parameters(), lr=1e-2)

    x = torch.bernoulli(torch.full((8, 784), 0.3), generator=torch.Generator().manual_seed(1))
    theirs, their_opt = make()
    ours, our_opt = make()
    with torch.random.fork_rng():
        torch.manual_seed(2)
        for _ in range(2):  # two steps: a forgotten zero_grad shows on the second
            got = fn(theirs, their_opt, x)
    with torch.random.fork_rng():
        torch.manual_seed(2)
        for _ in range(2):
            out = ours.loss(x)
            our_opt.zero_grad()
            out.loss.backward()
            our_opt.step()
    if isinstance(got, torch.Tensor) and got.requires_grad:
        raise ExerciseError(
            "Return a plain number (loss.item()), not the loss tensor: it keeps the whole graph "
            "alive, and summing such tensors over an epoch slowly fills the memory."
        )

    def same(a: VAE, b: VAE) -> bool:
        return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))

    if same(theirs, ours):
        if not isinstance(got, float | int | torch.Tensor):
            raise ExerciseError(f"Return the batch's loss as a number, not {type(got).__name__}.")
        if abs(float(got) - out.loss.item()) > 1e-4 * abs(out.loss.item()):
            raise ExerciseError(
                f"The step is right, but you return {float(got):.4f}; the loss of the batch "
                f"before the step is {out.loss.item():.4f} (model.loss(x).loss)."
            )
        print("Correct: one step of Adam on the batch's negative ELBO, gradients reset each time.")
        return
    if same(theirs, make()[0]):
        raise ExerciseError("The parameters did not change: call optimizer.step() after backward.")
    raise ExerciseError(
        "The parameters after two steps differ from loss.backward() + optimizer.step() on "
        "model.loss(x).loss. Did you call optimizer.zero_grad() first (else the gradients of "
        "the two steps add up), and step on the loss itself, not its negative?"
    )


def check_iwae_from_log_weights(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(log_w)`` with ``log_w`` of shape ``(k, batch)`` gives L_k per example.

    ``L_k = log (1/k) sum_i w_i``, computed as ``logsumexp(log_w, 0) - log k``.
    """
    import math

    g = torch.Generator().manual_seed(0)
    log_w = torch.randn(50, 7, generator=g, dtype=torch.float64) * 3 - 90
    got = _as_tensor(fn(log_w), "iwae_from_log_weights(log_w)")
    want = torch.logsumexp(log_w, 0) - math.log(50)
    _shape(got, want, "one bound per example (the k samples are dimension 0)")
    if _close(got, log_w.mean(0)):
        raise ExerciseError(
            "You averaged the log-weights: that is the ELBO's estimate, whatever k is. Average "
            "the weights themselves, then take the log."
        )
    if _close(got, torch.logsumexp(log_w, 0)):
        raise ExerciseError("Subtract log k: the bound is the log of the *mean* of the weights.")
    if not _close(got, want):
        raise ExerciseError("Not yet: L_k = log( (1/k) * sum_i exp(log_w_i) ) for each example.")
    tiny = torch.full((5, 2), -1000.0, dtype=torch.float64)
    out = fn(tiny)
    if not torch.isfinite(out).all() or not _close(out, tiny[0]):
        raise ExerciseError(
            "With every log-weight at -1000 the answer is -1000, but you return "
            f"{out.tolist()}: exp(-1000) underflows to 0. Use torch.logsumexp."
        )
    one = torch.randn(1, 4, generator=g, dtype=torch.float64)
    if not _close(fn(one), one[0]):
        raise ExerciseError("With k = 1 the bound must equal the one log-weight (the ELBO).")
    print("Correct: the log of the average weight, stable at -1000, and the ELBO at k = 1.")


# --- Chapter 8 ---


def check_slerp(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(z0, z1, t)`` is spherical interpolation, one row per t: ``(len(t), d)``.

    slerp = sin((1 - t) Omega) / sin(Omega) z0 + sin(t Omega) / sin(Omega) z1, with Omega the
    angle between z0 and z1; for (nearly) parallel z0, z1 it must fall back to lerp, not NaN.
    """
    from vae_tutorial.latent import lerp, slerp

    g = torch.Generator().manual_seed(8)
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
                "sin(t Omega) / sin(Omega), with cos(Omega) = z0·z1 / (|z0| |z1|)."
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

    g = torch.Generator().manual_seed(8)
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
                "the prior's mass."
            )
    print("Correct: one share per quantile cell, laid out like the decoded grid, summing to 1.")


def check_unsure_shares(fn: Callable[[torch.Tensor, list[float]], torch.Tensor]) -> None:
    """Exercise: ``fn(top_probability, thresholds)`` gives, for each threshold, the share of images
    whose top probability is below it (strictly): a tensor ``(len(thresholds),)``."""
    g = torch.Generator().manual_seed(8)
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
            "Not yet: for each threshold c, the mean of (top_probability < c) over the images."
        )
    print("Correct: the share below each threshold, with ties counted as sure.")


def check_psnr(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(estimate, clean)`` is the PSNR of each image in dB, ``(B,)``:
    10 log10(1 / MSE) for pixels in [0, 1], +inf for identical images."""
    from vae_tutorial.denoising import psnr

    g = torch.Generator().manual_seed(9)
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
            raise ExerciseError("The sign is flipped: PSNR = 10 log10(1 / MSE) = -10 log10(MSE).")
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
                "squared error), not 20 log10."
            )
        if not _close(got, want):
            raise ExerciseError(
                "Not yet: MSE = mean over an image's pixels of (estimate - clean)^2, and "
                "PSNR = 10 log10(1 / MSE)."
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
        g = torch.Generator().manual_seed(10)
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
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    if not torch.equal(fn(x[:10], 0.3, g1), fn(x[:10], 0.3, g2)):
        raise ExerciseError(
            "Two calls with equally seeded generators differ: draw every random number with "
            "generator=generator (torch.rand(..., generator=generator))."
        )
    print("Correct: a share p of the pixels replaced, half by 0, half by 1; the input untouched.")


def check_negative_elbo(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise: ``fn(logits, x, mean, log_var)`` is the VAE loss: the negative ELBO per example
    (summed over pixels and latent dimensions), averaged over the batch, as one number."""
    from vae_tutorial.losses import gaussian_kl, negative_elbo

    g = torch.Generator().manual_seed(13)
    b = 5
    logits = 3 * torch.randn(b, 784, generator=g, dtype=torch.float64)
    x = torch.bernoulli(torch.full((b, 784), 0.2, dtype=torch.float64), generator=g)
    mean = torch.randn(b, 4, generator=g, dtype=torch.float64)
    log_var = torch.randn(b, 4, generator=g, dtype=torch.float64)
    got = _as_tensor(fn(logits, x, mean, log_var), "negative_elbo(logits, x, mean, log_var)")
    if got.numel() != 1:
        raise ExerciseError(
            f"Return one number, the batch average; you returned shape {tuple(got.shape)}."
        )
    got = got.double().reshape(())
    want = negative_elbo(logits, x, mean, log_var).loss
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
    rec = bce.sum(1)
    kl = gaussian_kl(mean, log_var)
    hints = [
        (
            bce.mean() + kl.mean(),
            "The reconstruction is averaged over pixels: that weighs the "
            "KL 784 times too much (a beta = 784 VAE). Sum over the pixels.",
        ),
        (
            bce.mean() + kl.mean() / 784,
            "Both terms are divided by the 784 pixels: the loss has "
            "the right shape but is 784 times too small. Sum over pixels, average over the batch.",
        ),
        (rec.mean() + (kl / 4).mean(), "The KL is averaged over the latent dimensions: sum it."),
        (rec.mean() - kl.mean(), "The KL is subtracted: the loss is rec + KL."),
        (rec.sum() + kl.sum(), "That is the sum over the batch: average over the examples."),
        (rec.mean(), "The KL term is missing."),
    ]
    for wrong, hint in hints:
        if _close(got, wrong):
            raise ExerciseError(hint)
    probs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.sigmoid(logits), x, reduction="none"
    ).sum(1)
    if _close(got, probs.mean() + kl.mean()):
        raise ExerciseError("The logits went through a sigmoid twice: pass the logits as they are.")
    if not _close(got, want):
        raise ExerciseError(
            "Not yet: mean over the batch of [sum over pixels of BCE(logits, x) + "
            "KL(q(z|x) || N(0, I))], KL = -1/2 sum_j (1 + log_var_j - mean_j^2 - exp(log_var_j))."
        )
    for mean, log_var, what in _edge_inputs():
        one_logits, one_x = logits[:1], x[:1]
        got = _as_tensor(fn(one_logits, one_x, mean, log_var), "negative_elbo(...)")
        want = negative_elbo(one_logits, one_x, mean, log_var).loss
        if got.numel() != 1 or not _close(got.double().reshape(()), want, rtol=1e-6):
            raise ExerciseError(
                f"For a batch of one with {what} the loss is {want.item():.6g}; you gave "
                f"{got.detach().flatten().tolist()}."
            )
    print("Correct: the negative ELBO, summed per example and averaged over the batch.")


def check_kl_weight(fn: Callable[[int, int, float, int], float]) -> None:
    """Exercise: ``fn(step, steps_per_epoch, beta, warmup_epochs)`` is the KL weight
    w(t) = β min(1, t / T), T = warmup_epochs * steps_per_epoch (w = β without warm-up)."""
    from vae_tutorial.objective import Objective

    cases = [(0, 100, 1.0, 0), (0, 100, 4.0, 10), (1, 100, 4.0, 10), (500, 100, 4.0, 10),
             (999, 100, 4.0, 10), (1000, 100, 4.0, 10), (5000, 100, 4.0, 10), (3, 1, 0.5, 2),
             (7, 469, 0.25, 1)]  # fmt: skip
    for step, per_epoch, beta, warmup in cases:
        want = Objective(beta=beta, kl_warmup_epochs=warmup).kl_weight(step, per_epoch)
        try:
            got = float(fn(step, per_epoch, beta, warmup))
        except ZeroDivisionError:
            raise ExerciseError(
                f"ZeroDivisionError at step {step} with warm-up {warmup}: without warm-up T = 0, "
                "so return beta before dividing by T (there is no division by zero steps)."
            ) from None
        if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            continue
        where = f"step {step}, {per_epoch} steps per epoch, beta {beta:g}, warm-up {warmup}"
        if warmup == 0 and not math.isclose(got, beta, rel_tol=1e-9):
            raise ExerciseError(
                f"Without warm-up the weight is beta at every step: {where} gives {got:g}, "
                f"expected {beta:g} (and no division by zero steps)."
            )
        if warmup and step > warmup * per_epoch and got > beta * (1 + 1e-9):
            raise ExerciseError(
                f"After the warm-up the weight stays at beta: {where} gives {got:g} > {beta:g}. "
                "Cap the ramp with min(1, t / T)."
            )
        if warmup and math.isclose(got, step / (warmup * per_epoch), rel_tol=1e-9) and beta != 1:
            raise ExerciseError(
                f"The ramp goes from 0 to beta, not to 1: {where} gives {got:g}, expected {want:g}."
            )
        if warmup and step < warmup and math.isclose(got, beta * min(1, step / warmup)):
            raise ExerciseError(
                f"T counts optimizer steps, warmup_epochs * steps_per_epoch, not epochs: "
                f"{where} gives {got:g}, expected {want:g}."
            )
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            raise ExerciseError(
                f"{where}: expected w = beta * min(1, t / T) = {want:g}, got {got:g}."
            )
    print("Correct: the weight rises linearly from 0 to beta over the warm-up, then stays.")


def check_free_bits_kl(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """Exercise: ``fn(mean, log_var, lam)`` is sum_j max(lam, KL_j), KL_j the batch-mean KL of
    latent dimension j; below lam a dimension gets no gradient."""
    from vae_tutorial.losses import gaussian_kl
    from vae_tutorial.objective import free_bits_kl

    g = torch.Generator().manual_seed(10)
    for n, lam, what in ((64, 0.5, "a batch of 64"), (1, 0.5, "a batch of one"),
                         (64, 0.0, "lambda = 0")):  # fmt: skip
        mean = torch.randn(n, 6, generator=g, dtype=torch.float64) * torch.tensor(
            [0.05, 0.1, 1.0, 2.0, 0.01, 3.0], dtype=torch.float64
        )
        log_var = torch.randn(n, 6, generator=g, dtype=torch.float64) * 0.3 - torch.tensor(
            [0.0, 0.0, 1.0, 4.0, 0.0, 8.0], dtype=torch.float64
        )
        mean.requires_grad_(True)
        got = _as_tensor(fn(mean, log_var, lam), "free_bits_kl(mean, log_var, lam)")
        want = free_bits_kl(mean, log_var, lam)
        if got.dim() != 0:
            raise ExerciseError(
                f"{what}: return one number (the sum over dimensions), got shape "
                f"{tuple(got.shape)}."
            )
        per_example = torch.clamp(gaussian_kl(mean.unsqueeze(-1), log_var.unsqueeze(-1)),
                                  min=lam).sum(-1).mean()  # fmt: skip
        if n > 1 and lam > 0 and _close(got.detach(), per_example.detach()):
            raise ExerciseError(
                f"{what}: you clamped each example's KL; free bits clamp each dimension's KL "
                "averaged over the batch first (KL_j = mean over b), then take max(lam, KL_j)."
            )
        if lam > 0 and _close(got.detach(), gaussian_kl(mean, log_var).mean().detach()):
            raise ExerciseError(f"{what}: that is the plain KL; no dimension was clamped at lam.")
        if not _close(got.detach(), want.detach(), rtol=1e-6):
            raise ExerciseError(
                f"{what}: expected sum_j max(lam, KL_j) = {want.item():.6g}, got {got.item():.6g}."
            )
        if not got.requires_grad:
            raise ExerciseError(f"{what}: the result has no gradient; keep it in torch.")
        (grad,) = torch.autograd.grad(got, mean)
        below = gaussian_kl(mean.unsqueeze(-1), log_var.unsqueeze(-1)).mean(0) < lam
        if lam > 0 and below.any() and grad[:, below].abs().max() > 0:
            raise ExerciseError(
                f"{what}: a dimension below lam still gets a gradient; max(lam, KL_j) must be "
                "constant there (torch.clamp(kl_j, min=lam) does it)."
            )
    print("Correct: each dimension's batch-mean KL, floored at lambda; no gradient below it.")


def check_class_posterior(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(log_px_given_y, log_py)`` is log p(y|x) by Bayes' rule, ``(N, K)``:
    log p(x|y) + log p(y) - logsumexp_y'(log p(x|y') + log p(y'))."""
    g = torch.Generator().manual_seed(11)
    for n, what in ((5, "five images"), (1, "one image")):
        log_px_given_y = -90 - 20 * torch.rand(n, 10, generator=g, dtype=torch.float64)
        log_py = torch.log_softmax(torch.randn(10, generator=g, dtype=torch.float64), 0)
        want = torch.log_softmax(log_px_given_y + log_py, dim=1)
        got = _as_tensor(fn(log_px_given_y, log_py), "class_posterior(log_px_given_y, log_py)")
        _shape(got, want, f"log p(y|x) of {what}")
        if not torch.isfinite(got).all():
            raise ExerciseError(
                f"{what}: not finite. log p(x|y) is near -100, so exp() underflows to 0: "
                "normalize in log space with torch.logsumexp."
            )
        if _close(got.double(), torch.log_softmax(log_px_given_y, dim=1)):
            raise ExerciseError(f"{what}: the prior log p(y) is missing from the numerator.")
        if _close(got.double(), torch.log_softmax(log_px_given_y + log_py, dim=0)):
            raise ExerciseError(f"{what}: normalize over the classes (dim=1), not the images.")
        if not _close(got.double(), want, rtol=1e-6, atol=1e-8):
            raise ExerciseError(
                f"{what}: expected log p(x|y) + log p(y) - log sum_y' p(x|y') p(y'); each row's "
                "exp should sum to 1."
            )
    print("Correct: log p(y|x) by Bayes' rule, normalized in log space.")


def check_conv_side(fn: Callable[[int, int, int, int], int]) -> None:
    """Exercise: ``fn(n, kernel, stride, padding)`` is a convolution's output side,
    floor((n + 2 padding - kernel) / stride) + 1, as torch computes it."""
    from torch import nn

    for n, k, s, p in ((28, 4, 2, 1), (7, 4, 2, 1), (28, 3, 2, 1), (7, 3, 2, 1), (1, 3, 2, 1),
                       (5, 3, 1, 0), (28, 5, 1, 2), (3, 3, 1, 0), (13, 4, 3, 0)):  # fmt: skip
        want = nn.Conv2d(1, 1, k, s, p)(torch.zeros(1, 1, n, n)).shape[-1]
        got = fn(n, k, s, p)
        if not isinstance(got, int):
            raise ExerciseError(f"Return an int, got {type(got).__name__} ({got!r}).")
        if got != want:
            hint = (
                " Round down: // rather than /, and do not forget the + 1."
                if got
                in ((n + 2 * p - k) / s + 1, (n + 2 * p - k) // s, -(-(n + 2 * p - k) // s) + 1)
                else ""
            )
            raise ExerciseError(
                f"n={n}, kernel={k}, stride={s}, padding={p}: torch gives {want}, you gave "
                f"{got}.{hint}"
            )
    print("Correct: floor((n + 2p - k) / s) + 1, the side torch's Conv2d gives.")
