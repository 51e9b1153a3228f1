"""Each exercise check accepts the right answer and names the mistake in common wrong ones."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vae_tutorial import exercises as ex


def _accepts(check, answer, capsys: pytest.CaptureFixture[str]) -> None:
    check(answer)
    assert capsys.readouterr().out.startswith("Correct")


def _rejects(check, answer, hint: str) -> None:
    with pytest.raises(ex.ExerciseError, match=hint):
        check(answer)


def test_log_mean_exp(capsys: pytest.CaptureFixture[str]) -> None:
    _accepts(ex.check_log_mean_exp, lambda w: torch.logsumexp(w, 0) - math.log(len(w)), capsys)
    _rejects(ex.check_log_mean_exp, lambda w: torch.log(torch.exp(w).mean()), "underflow")
    _rejects(ex.check_log_mean_exp, lambda w: torch.logsumexp(w, 0), "log-SUM-exp")


def test_linear_gaussian_log_marginal(capsys: pytest.CaptureFixture[str]) -> None:
    def right(x, W, b, sigma):
        return MultivariateNormal(
            b, W @ W.T + sigma**2 * torch.eye(len(b), dtype=W.dtype)
        ).log_prob(x)

    def sigma_not_squared(x, W, b, sigma):
        return MultivariateNormal(b, W @ W.T + sigma * torch.eye(len(b), dtype=W.dtype)).log_prob(x)

    def no_noise(x, W, b, sigma):
        return MultivariateNormal(b, W @ W.T + 1e-9 * torch.eye(len(b), dtype=W.dtype)).log_prob(x)

    _accepts(ex.check_linear_gaussian_log_marginal, right, capsys)
    _rejects(ex.check_linear_gaussian_log_marginal, sigma_not_squared, "sigma\\*\\*2, not sigma")
    _rejects(ex.check_linear_gaussian_log_marginal, no_noise, "observation noise")


def test_gaussian_kl(capsys: pytest.CaptureFixture[str]) -> None:
    def right(m, lv):
        return -0.5 * (1 + lv - m**2 - lv.exp()).sum(-1)

    _accepts(ex.check_gaussian_kl, right, capsys)
    _rejects(ex.check_gaussian_kl, lambda m, lv: right(m, lv).mean(), "one KL per example")
    _rejects(ex.check_gaussian_kl, lambda m, lv: -0.5 * (1 + lv - m**2 - lv.exp()), "Sum")
    _rejects(ex.check_gaussian_kl, lambda m, lv: 2 * right(m, lv), "factor of 2")
    _rejects(ex.check_gaussian_kl, lambda m, lv: -right(m, lv), "sign")


def test_bernoulli_log_likelihood(capsys: pytest.CaptureFixture[str]) -> None:
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    _accepts(
        ex.check_bernoulli_log_likelihood,
        lambda lg, x: -bce(lg, x, reduction="none").sum(-1),
        capsys,
    )
    _rejects(
        ex.check_bernoulli_log_likelihood,
        lambda lg, x: bce(lg, x, reduction="none").sum(-1),
        "sign",
    )
    _rejects(
        ex.check_bernoulli_log_likelihood, lambda lg, x: -bce(lg, x, reduction="none"), "Sum over"
    )
    _rejects(
        ex.check_bernoulli_log_likelihood,
        lambda lg, x: -bce(lg, x, reduction="none").mean(-1),
        "averaged",
    )
    _rejects(
        ex.check_bernoulli_log_likelihood,
        lambda lg, x: -bce(torch.sigmoid(lg), x, reduction="none").sum(-1),
        "already logits",
    )


def test_reparameterize(capsys: pytest.CaptureFixture[str]) -> None:
    _accepts(ex.check_reparameterize, lambda m, lv, e: m + torch.exp(0.5 * lv) * e, capsys)
    _rejects(ex.check_reparameterize, lambda m, lv, e: m + torch.exp(lv) * e, "variance")
    _rejects(ex.check_reparameterize, lambda m, lv, e: m + lv * e, "log-variance")
    _rejects(
        ex.check_reparameterize,
        lambda m, lv, e: (m + torch.exp(0.5 * lv) * e).detach(),
        "no gradient",
    )


def test_score_function(capsys: pytest.CaptureFixture[str]) -> None:
    _accepts(ex.check_score_function, lambda f, mu, s, z: f(z) * (z - mu) / s**2, capsys)
    _rejects(ex.check_score_function, lambda f, mu, s, z: f(z) * (z - mu), "divide by sigma")
    _rejects(ex.check_score_function, lambda f, mu, s, z: f(z) * (z - mu) / s, "variance")
    _rejects(ex.check_score_function, lambda f, mu, s, z: torch.cos(z) + 2 * z, "pathwise")


def test_count_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    def right(input_dim, hidden_dims, latent_dim):
        widths = [input_dim, *hidden_dims]
        encoder = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
        heads = 2 * (widths[-1] * latent_dim + latent_dim)
        back = [latent_dim, *reversed(hidden_dims), input_dim]
        decoder = sum(a * b + b for a, b in zip(back[:-1], back[1:], strict=True))
        return encoder + heads + decoder

    def one_head(input_dim, hidden_dims, latent_dim):
        return right(input_dim, hidden_dims, latent_dim) - (
            [input_dim, *hidden_dims][-1] * latent_dim + latent_dim
        )

    _accepts(ex.check_count_parameters, right, capsys)
    _rejects(ex.check_count_parameters, one_head, "two heads")
    _rejects(ex.check_count_parameters, lambda i, h, d: right(i, h, d) + 1, "PyTorch counts")


def test_train_step(capsys: pytest.CaptureFixture[str]) -> None:
    def right(model, optimizer, x):
        out = model.loss(x)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        return out.loss.item()

    def no_zero_grad(model, optimizer, x):
        out = model.loss(x)
        out.loss.backward()
        optimizer.step()
        return out.loss.item()

    def returns_tensor(model, optimizer, x):
        out = model.loss(x)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        return out.loss

    def no_step(model, optimizer, x):
        out = model.loss(x)
        optimizer.zero_grad()
        out.loss.backward()
        return out.loss.item()

    _accepts(ex.check_train_step, right, capsys)
    _rejects(ex.check_train_step, no_zero_grad, "zero_grad")
    _rejects(ex.check_train_step, returns_tensor, "plain number")
    _rejects(ex.check_train_step, no_step, "did not change")


def test_iwae_from_log_weights(capsys: pytest.CaptureFixture[str]) -> None:
    def right(log_w):
        return torch.logsumexp(log_w, 0) - math.log(len(log_w))

    _accepts(ex.check_iwae_from_log_weights, right, capsys)
    _rejects(ex.check_iwae_from_log_weights, lambda w: w.mean(0), "averaged the log-weights")
    _rejects(ex.check_iwae_from_log_weights, lambda w: torch.logsumexp(w, 0), "Subtract log k")
    _rejects(
        ex.check_iwae_from_log_weights,
        lambda w: torch.log(torch.exp(w).mean(0)),
        "underflow|Not yet",
    )


def _slerp(z0, z1, t):  # chapter 8's answer, not the package's (a check refuses that)
    t = t.reshape(-1, 1)
    omega = torch.arccos((z0 @ z1 / (z0.norm() * z1.norm())).clamp(-1, 1))
    if torch.sin(omega).abs() < 1e-7:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def _cell_shares(z, n):  # chapter 8's answer
    cells = (torch.distributions.Normal(0.0, 1.0).cdf(z) * n).long().clamp(max=n - 1)
    counts = torch.zeros(n, n, dtype=torch.float64)
    counts.index_put_(
        (n - 1 - cells[:, 1], cells[:, 0]), torch.ones(len(z), dtype=torch.float64), accumulate=True
    )
    return counts / len(z)


def _psnr(a, b):  # chapter 9's answer
    return 10 * torch.log10(1 / (a.double() - b.double()).pow(2).mean(dim=1))


def _salt_and_pepper(x, p, g):  # chapter 9's answer
    hit = torch.rand(x.shape, generator=g) < p
    salt = torch.rand(x.shape, generator=g) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def test_slerp(capsys: pytest.CaptureFixture[str]) -> None:
    from vae_tutorial.latent import lerp

    slerp = _slerp

    def no_fallback(z0, z1, t):
        t = t.reshape(-1, 1)
        omega = torch.arccos((z0 @ z1 / (z0.norm() * z1.norm())).clamp(-1, 1))
        return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)

    _accepts(ex.check_slerp, slerp, capsys)
    _rejects(ex.check_slerp, lerp, "straight line")
    _rejects(ex.check_slerp, lambda z0, z1, t: slerp(z0, z1, 1 - t), "backwards")
    _rejects(ex.check_slerp, no_fallback, "NaN")


def test_quantile_cell_shares(capsys: pytest.CaptureFixture[str]) -> None:
    quantile_cell_shares = _cell_shares

    def unclamped(z, n):
        cells = (torch.distributions.Normal(0.0, 1.0).cdf(z) * n).long()
        counts = torch.zeros(n, n, dtype=z.dtype)
        counts.index_put_((n - 1 - cells[:, 1], cells[:, 0]), torch.ones(len(z)), accumulate=True)
        return counts / len(z)

    def even_bins(z, n):  # no normal CDF: even cells on [-3, 3]
        return quantile_cell_shares(z * 0.5, n)

    _accepts(ex.check_quantile_cell_shares, quantile_cell_shares, capsys)
    _rejects(
        ex.check_quantile_cell_shares, lambda z, n: quantile_cell_shares(z, n) * len(z), "counts"
    )
    _rejects(ex.check_quantile_cell_shares, lambda z, n: quantile_cell_shares(z, n).T, "swapped")
    _rejects(
        ex.check_quantile_cell_shares,
        lambda z, n: quantile_cell_shares(z, n).flip(0),
        "Upside down",
    )
    _rejects(ex.check_quantile_cell_shares, unclamped, "clamp")
    _rejects(ex.check_quantile_cell_shares, even_bins, "normal CDF")


def test_unsure_shares(capsys: pytest.CaptureFixture[str]) -> None:
    def right(top, thresholds):
        return torch.stack([(top < c).float().mean() for c in thresholds])

    _accepts(ex.check_unsure_shares, right, capsys)
    _rejects(ex.check_unsure_shares, lambda top, cs: 1 - right(top, cs), "sure of")
    _rejects(
        ex.check_unsure_shares,
        lambda top, cs: torch.stack([(top <= c).float().mean() for c in cs]),
        "`<`",
    )
    _rejects(ex.check_unsure_shares, lambda top, cs: 100 * right(top, cs), "percentages")


def test_psnr_check(capsys) -> None:
    psnr = _psnr

    def per_batch(a, b):
        return -10 * torch.log10(((a - b) ** 2).mean())

    def with_epsilon(a, b):
        return -10 * torch.log10(((a - b) ** 2).mean(dim=1) + 1e-10)

    _accepts(ex.check_psnr, psnr, capsys)
    _rejects(ex.check_psnr, lambda a, b: psnr(a, b) * 2.302585092994046, "log10")
    _rejects(ex.check_psnr, lambda a, b: -psnr(a, b), "sign")
    _rejects(ex.check_psnr, lambda a, b: 2 * psnr(a, b), "factor of two")
    _rejects(ex.check_psnr, lambda a, b: psnr(a, b) + 20 * math.log10(255), "not 255")
    _rejects(ex.check_psnr, lambda a, b: psnr(a, b) + 1, "Not yet")
    _rejects(ex.check_psnr, per_batch, "one number for the whole batch")
    _rejects(ex.check_psnr, with_epsilon, "PSNR \\+inf")


def test_salt_and_pepper_check(capsys) -> None:
    salt_and_pepper = _salt_and_pepper

    def in_place(x, p, g):
        hit = torch.rand(x.shape, generator=g) < p
        x[hit] = (torch.rand(x.shape, generator=g) < 0.5).float()[hit]
        return x

    def salt_only(x, p, g):
        return torch.where(torch.rand(x.shape, generator=g) < p, torch.ones_like(x), x)

    def half_rate(x, p, g):
        salt = torch.rand(x.shape, generator=g) < 0.5
        return torch.where(torch.rand(x.shape, generator=g) < p, torch.where(salt, 1.0, x), x)

    def unseeded(x, p, g):
        return torch.where(torch.rand(x.shape) < p, (torch.rand(x.shape) < 0.5).float(), x)

    _accepts(ex.check_salt_and_pepper, salt_and_pepper, capsys)
    _rejects(ex.check_salt_and_pepper, in_place, "in place")
    _rejects(ex.check_salt_and_pepper, salt_only, "equally likely")
    _rejects(ex.check_salt_and_pepper, half_rate, "about p / 2")
    _rejects(ex.check_salt_and_pepper, unseeded, "generator=generator")


def test_negative_elbo_check(capsys) -> None:
    from vae_tutorial.losses import gaussian_kl

    def bce(logits, x):
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")

    _accepts(
        ex.check_negative_elbo,
        lambda lg, x, m, lv: (bce(lg, x).sum(1) + gaussian_kl(m, lv)).mean(),
        capsys,
    )
    _rejects(
        ex.check_negative_elbo,
        lambda lg, x, m, lv: bce(lg, x).mean() + gaussian_kl(m, lv).mean(),
        "784 times",
    )
    _rejects(
        ex.check_negative_elbo,
        lambda lg, x, m, lv: bce(lg, x).sum(1).mean() - gaussian_kl(m, lv).mean(),
        "subtracted",
    )
    _rejects(
        ex.check_negative_elbo,
        lambda lg, x, m, lv: bce(lg, x).sum() + gaussian_kl(m, lv).sum(),
        "sum over the batch",
    )
    _rejects(
        ex.check_negative_elbo,
        lambda lg, x, m, lv: bce(torch.sigmoid(lg), x).sum(1).mean() + gaussian_kl(m, lv).mean(),
        "sigmoid twice",
    )
    _rejects(ex.check_negative_elbo, lambda lg, x, m, lv: bce(lg, x).sum(1), "one number")


def test_psnr_check_names_a_sum_over_pixels() -> None:
    def summed(a, b):
        return 10 * torch.log10(1 / ((a - b) ** 2).sum(dim=1))

    _rejects(ex.check_psnr, summed, "summed the squared error")


def test_kl_weight_check(capsys) -> None:
    def right(t, n, beta, warmup):
        return beta * min(1.0, t / (warmup * n)) if warmup else beta

    _accepts(ex.check_kl_weight, right, capsys)
    _rejects(ex.check_kl_weight, lambda t, n, b, w: b * t / (w * n) if w else b, "stays at beta")
    _rejects(ex.check_kl_weight, lambda t, n, b, w: min(1, t / (w * n)) if w else b, "not to 1")
    _rejects(ex.check_kl_weight, lambda t, n, b, w: b * min(1, t / w) if w else b, "not epochs")
    _rejects(ex.check_kl_weight, lambda t, n, b, w: b * min(1, t / (w * n)), "division by zero")


def test_free_bits_check(capsys) -> None:
    def kl_j(m, v):
        return 0.5 * (m**2 + v.exp() - 1 - v)

    def right(m, v, lam):
        return kl_j(m, v).mean(0).clamp(min=lam).sum()

    _accepts(ex.check_free_bits_kl, right, capsys)
    _rejects(ex.check_free_bits_kl, lambda m, v, lam: kl_j(m, v).clamp(min=lam).sum(-1).mean(),
             "each example")  # fmt: skip
    _rejects(ex.check_free_bits_kl, lambda m, v, lam: kl_j(m, v).sum(-1).mean(), "plain KL")
    _rejects(ex.check_free_bits_kl, lambda m, v, lam: right(m, v, lam).detach(), "no gradient")

    def leaky(m, v, lam):  # the right value, but max(lam, KL_j) as KL_j + (lam - KL_j)+ detached
        kl = kl_j(m, v).mean(0)
        return (kl + torch.relu(lam - kl).detach()).sum()

    _rejects(ex.check_free_bits_kl, leaky, "still gets a gradient")


def test_class_posterior_check(capsys) -> None:
    _accepts(ex.check_class_posterior, lambda a, b: torch.log_softmax(a + b, dim=1), capsys)
    _rejects(ex.check_class_posterior, lambda a, b: torch.log_softmax(a, dim=1), "prior")
    _rejects(ex.check_class_posterior, lambda a, b: torch.log_softmax(a + b, dim=0), "dim=1")
    _rejects(ex.check_class_posterior, lambda a, b: (a + b).float().exp().log(), "not finite")


def test_conv_side_check(capsys) -> None:
    _accepts(ex.check_conv_side, lambda n, k, s, p: (n + 2 * p - k) // s + 1, capsys)
    _rejects(ex.check_conv_side, lambda n, k, s, p: (n + 2 * p - k) / s + 1, "Return an int")
    _rejects(ex.check_conv_side, lambda n, k, s, p: (n + 2 * p - k) // s, "the \\+ 1")
    _rejects(ex.check_conv_side, lambda n, k, s, p: n // s, "torch gives")


def test_paired_difference_check(capsys) -> None:
    def right(a, b):
        d = a - b
        return d.mean().item(), (d.std() / len(d) ** 0.5).item()

    _accepts(ex.check_paired_difference, right, capsys)
    _rejects(ex.check_paired_difference, lambda a, b: right(b, a), "wrong sign")
    _rejects(ex.check_paired_difference,
             lambda a, b: ((a - b).mean(), (a.var() / len(a) + b.var() / len(b)).sqrt()),
             "unpaired")  # fmt: skip
    _rejects(
        ex.check_paired_difference,
        lambda a, b: ((a - b).mean(), (a - b).std() / len(a)),
        "sqrt\\(n\\)",
    )
    _rejects(
        ex.check_paired_difference,
        lambda a, b: ((a - b).mean(), (a - b).std(correction=0) / len(a) ** 0.5),
        "n - 1",
    )
    _rejects(ex.check_paired_difference, lambda a, b: (a - b).mean(), "two numbers")


def test_checks_catch_edge_case_failures() -> None:
    """Answers right on an ordinary batch but wrong at the edges: extreme log-variances, logits
    of +-100, a batch of one."""
    import torch.nn.functional as F

    def kl_clamped(m, v):  # clamps the log-variance "for stability": wrong at log_var = +-20
        v = v.clamp(-10, 10)
        return -0.5 * torch.sum(1 + v - m**2 - v.exp(), dim=-1)

    _rejects(ex.check_gaussian_kl, kl_clamped, "log_var = -20")
    _rejects(ex.check_bernoulli_log_likelihood,
             lambda lg, x: (x * torch.log(torch.sigmoid(lg))
                            + (1 - x) * torch.log(1 - torch.sigmoid(lg))).sum(-1),
             "Not finite for logits")  # fmt: skip

    def z_clamped(m, v, e):
        return m + torch.exp(0.5 * v.clamp(-10, 10)) * e

    _rejects(ex.check_reparameterize, z_clamped, "log_var = -20")

    def loss_clamped(lg, x, m, v):  # right on ordinary inputs, wrong at log_var = +-20
        v = v.clamp(-10, 10)
        rec = F.binary_cross_entropy_with_logits(lg, x, reduction="none").sum(-1)
        return (rec - 0.5 * (1 + v - m.pow(2) - v.exp()).sum(-1)).mean()

    _rejects(ex.check_negative_elbo, loss_clamped, "batch of one with log_var = -20")


def test_checks_name_a_missing_function_a_missing_return_and_wrong_types() -> None:
    """None for the function, None or a string for a number, an int tensor: a named mistake."""
    import torch

    from vae_tutorial import exercises
    from vae_tutorial.exercises import ExerciseError

    with pytest.raises(ExerciseError, match="takes your function itself, got NoneType"):
        exercises.check_kl_weight(None)
    with pytest.raises(ExerciseError, match="returned None: did you forget the return"):
        exercises.check_kl_weight(lambda step, per_epoch, beta, warmup: None)
    with pytest.raises(ExerciseError, match="should return a number, got str"):
        exercises.check_kl_weight(lambda step, per_epoch, beta, warmup: str(beta))
    with pytest.raises(ExerciseError, match="factor of 255"):  # an int tensor gets the hint
        exercises.check_expected_ink(lambda images: images.reshape(len(images), -1).sum(1))
    exercises.check_kl_weight(  # a float32 tensor is a number too
        lambda t, n, beta, warmup: torch.tensor(
            beta * min(1.0, t / (warmup * n)) if warmup else beta
        )  # fmt: skip
    )


def test_every_check_refuses_the_package_answer() -> None:
    """The package's own function, or a wrapper that calls it through its module, is refused."""
    import importlib

    from vae_tutorial.exercises import PACKAGE_ANSWERS

    for check_name, answers in PACKAGE_ANSWERS.items():
        check = getattr(ex, check_name)
        for dotted in answers:
            module_name, attr = dotted.rsplit(".", 1)
            module = importlib.import_module(module_name)
            answer = getattr(module, attr)
            if not isinstance(answer, type):
                _rejects(check, answer, "package's own")
            scope = {"package_module": module}
            wrapper = eval(f"lambda *args: package_module.{attr}(*args)", scope)  # noqa: S307
            _rejects(check, wrapper, "package's own")

    from vae_tutorial.objective import free_bits_kl

    def helper(mean, log_var, lam):  # a helper of the student's that calls the package
        return free_bits_kl(mean, log_var, lam)

    _rejects(ex.check_free_bits_kl, lambda m, v, lam: helper(m, v, lam), "package's own")


def test_seed_runs_the_tests_on_other_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    """seed=s (a graded copy's hidden tests) draws other inputs; the right answer still passes."""
    seen: list[torch.Tensor] = []

    def recording(log_w):
        seen.append(log_w.clone())
        return torch.logsumexp(log_w, 0) - math.log(len(log_w))

    for seed in (0, 1):
        ex.check_iwae_from_log_weights(recording, seed=seed)
        assert capsys.readouterr().out.startswith("Correct")
    first, second = seen[0], seen[len(seen) // 2]
    assert first.shape == second.shape and not torch.equal(first, second)

    def remembered(log_w):  # the answers to seed 0's main case, hard-coded
        return (
            first.logsumexp(0) - math.log(len(first))
            if log_w.shape == first.shape
            else (torch.logsumexp(log_w, 0) - math.log(len(log_w)))
        )

    _accepts(ex.check_iwae_from_log_weights, remembered, capsys)
    with pytest.raises(ex.ExerciseError):
        ex.check_iwae_from_log_weights(remembered, seed=1)


def test_kl_weight_rejects_the_beta_one_shortcut_and_takes_tensors(capsys) -> None:
    def right(t, n, beta, warmup):
        return beta * min(1.0, t / (warmup * n)) if warmup else beta

    _rejects(ex.check_kl_weight, lambda t, n, b, w: b * min(1.0, t / (w * n)) if w else 1.0,
             "beta, not 1")  # fmt: skip
    for dtype in (torch.float32, torch.float64):
        _accepts(ex.check_kl_weight, lambda *a, dtype=dtype: torch.tensor(right(*a), dtype=dtype),
                 capsys)  # fmt: skip
    _accepts(ex.check_kl_weight, lambda *a: torch.tensor([right(*a)], dtype=torch.float32), capsys)
    _accepts(ex.check_kl_weight, right, capsys)
    ex.check_kl_weight(right, seed=3)


def test_messages_name_a_constant_a_sign_a_half_and_a_batch_sum() -> None:
    def kl_j(m, v):
        return 0.5 * (m**2 + v.exp() - 1 - v)

    _rejects(ex.check_free_bits_kl, lambda m, v, lam: kl_j(m, v).sum(0).clamp(min=lam).sum(),
             "summed over the batch.*expected .*, got ")  # fmt: skip
    _rejects(ex.check_free_bits_kl, lambda m, v, lam: (2 * kl_j(m, v)).mean(0).clamp(min=lam).sum(),
             "1/2 .* is missing.*expected .*, got ")  # fmt: skip
    _rejects(ex.check_free_bits_kl, lambda m, v, lam: (-kl_j(m, v)).mean(0).clamp(min=lam).sum(),
             "sign .* flipped.*expected .*, got ")  # fmt: skip
    _rejects(
        ex.check_iwae_from_log_weights,
        lambda w: torch.logsumexp(w, 0) + math.log(len(w)),
        "\\+ log k.*Expected .*got",
    )
    _rejects(
        ex.check_iwae_from_log_weights,
        lambda w: torch.logsumexp(w, 0) - math.log(len(w) - 1),
        "log\\(k - 1\\).*Expected",
    )
    _rejects(
        ex.check_iwae_from_log_weights,
        lambda w: torch.logsumexp(w, 0) - math.log(len(w)) + 0.3,
        "constant, \\+0.3.*Expected",
    )
    _rejects(ex.check_log_mean_exp, lambda w: torch.logsumexp(w, 0) + math.log(len(w)),
             "\\+ log\\(n\\).*Expected")  # fmt: skip
    _rejects(
        ex.check_gaussian_kl,
        lambda m, lv: -0.5 * (1 + lv - m**2 - lv.exp()).sum(-1) + 1.5,
        "constant.*Expected",
    )
    _rejects(ex.check_class_posterior, lambda a, b: torch.log_softmax(a + b, 1) - 0.1, "Expected")


def test_a_named_slip_also_shows_expected_against_got() -> None:
    def kl(m, lv):
        return -0.5 * (1 + lv - m**2 - lv.exp()).sum(-1)

    _rejects(ex.check_gaussian_kl, lambda m, lv: 2 * kl(m, lv), "factor of 2.*Expected .*, got ")
    _rejects(ex.check_gaussian_kl, lambda m, lv: -kl(m, lv), "sign.*Expected .*, got ")
    _rejects(
        ex.check_reparameterize, lambda m, lv, e: m + torch.exp(lv) * e, "missing 1/2.*Expected"
    )
    _rejects(ex.check_psnr, lambda a, b: -_psnr(a, b), "sign is flipped.*Expected")
