"""Checks for Part IV, Variants and pitfalls (chapters 10-13): beta-VAE, the conditional VAE,
the convolutional VAE and the common mistakes."""

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
    _number,
    _shape,
    _versus,
)

__all__ = [
    "check_kl_weight",
    "check_free_bits_kl",
    "check_class_posterior",
    "check_conv_side",
    "check_paired_difference",
    "check_negative_elbo",
]


def _kl_weight_cases() -> list[tuple[int, int, float, int]]:
    """(step, steps_per_epoch, beta, warmup_epochs): the edge cases, then random ones."""
    cases = [(0, 100, 4.0, 0), (37, 100, 0.5, 0), (0, 100, 1.0, 0), (0, 100, 4.0, 10),
             (1, 100, 4.0, 10), (500, 100, 4.0, 10), (999, 100, 4.0, 10), (1000, 100, 4.0, 10),
             (5000, 100, 4.0, 10), (3, 1, 0.5, 2), (7, 469, 0.25, 1)]  # fmt: skip
    g = _generator(14)
    for _ in range(12):
        per_epoch, warmup = (int(v) for v in torch.randint(1, 500, (1,), generator=g).tolist()
                             + torch.randint(0, 6, (1,), generator=g).tolist())  # fmt: skip
        step = int(torch.randint(0, max(2 * warmup * per_epoch, 10), (1,), generator=g))
        beta = round(float(torch.empty(1).uniform_(0.1, 8.0, generator=g)), 3)
        cases.append((step, per_epoch, beta if beta != 1 else 2.0, warmup))
    return cases


def check_kl_weight(fn: Callable[[int, int, float, int], float]) -> None:
    """Exercise: ``fn(step, steps_per_epoch, beta, warmup_epochs)`` is the KL weight
    w(t) = β min(1, t / T), T = warmup_epochs * steps_per_epoch (w = β without warm-up).
    A float or a one-element tensor (float32 too) is accepted."""
    for step, per_epoch, beta, warmup in _kl_weight_cases():
        warmup_steps = warmup * per_epoch
        want = beta if step >= warmup_steps else beta * step / warmup_steps
        try:
            raw = fn(step, per_epoch, beta, warmup)
        except ZeroDivisionError:
            raise ExerciseError(
                f"ZeroDivisionError at step {step} with warm-up {warmup}: without warm-up T = 0, "
                "so return beta before dividing by T (there is no division by zero steps)."
            ) from None
        got = _number(raw, "your kl_weight")
        single = isinstance(raw, torch.Tensor) and raw.dtype in (torch.float16, torch.bfloat16,
                                                                  torch.float32)  # fmt: skip
        rel = 1e-3 if single and raw.dtype != torch.float32 else 1e-5 if single else 1e-9
        if math.isclose(got, want, rel_tol=rel, abs_tol=1e-12):
            continue
        where = f"step {step}, {per_epoch} steps per epoch, beta {beta:g}, warm-up {warmup}"
        versus = f"expected {want:.8g}, got {got:.8g}"
        if warmup == 0 and math.isclose(got, 1.0, rel_tol=1e-6):
            raise ExerciseError(f"Without warm-up the weight is beta, not 1: {where}: {versus}.")
        if warmup == 0:
            raise ExerciseError(
                f"Without warm-up the weight is beta at every step: {where}: {versus} "
                "(and no division by zero steps)."
            )
        if step > warmup_steps and got > beta * (1 + 1e-6):
            raise ExerciseError(
                f"After the warm-up the weight stays at beta: {where}: {versus}. "
                "Cap the ramp with min(1, t / T)."
            )
        if math.isclose(got, min(1.0, step / warmup_steps), rel_tol=1e-5):
            raise ExerciseError(f"The ramp goes from 0 to beta, not to 1: {where}: {versus}.")
        if math.isclose(got, beta * min(1, step / warmup), rel_tol=1e-5):
            raise ExerciseError(
                f"T counts optimizer steps, warmup_epochs * steps_per_epoch, not epochs: "
                f"{where}: {versus}."
            )
        raise ExerciseError(f"{where}: w = beta * min(1, t / T): {versus}.")
    print("Correct: the weight rises linearly from 0 to beta over the warm-up, then stays.")


def _free_bits_inputs(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, log_var) of ``n`` examples in 6 dimensions: some far below 1 nat, some far above."""
    g = _generator(10 + n)
    scale = torch.tensor([0.05, 0.1, 1.0, 2.0, 0.01, 3.0], dtype=torch.float64)
    shift = torch.tensor([0.0, 0.0, 1.0, 4.0, 0.0, 8.0], dtype=torch.float64)
    perm = torch.randperm(6, generator=g)
    mean = torch.randn(n, 6, generator=g, dtype=torch.float64) * scale[perm]
    log_var = torch.randn(n, 6, generator=g, dtype=torch.float64) * 0.3 - shift[perm]
    return mean.requires_grad_(True), log_var


def check_free_bits_kl(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> None:
    """Exercise: ``fn(mean, log_var, lam)`` is sum_j max(lam, KL_j), KL_j the batch-mean KL of
    latent dimension j; below lam a dimension gets no gradient."""
    from vae_tutorial.losses import gaussian_kl

    def per_dim(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:  # (B, d)
        return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)

    lam_random = round(float(torch.rand(1, generator=_generator(15))) * 0.8 + 0.1, 3)
    cases = ((64, 0.5, "a batch of 64"), (1, 0.5, "a batch of one"), (64, 0.0, "lambda = 0"),
             (32, lam_random, f"a batch of 32, lambda = {lam_random:g}"))  # fmt: skip
    for n, lam, what in cases:
        mean, log_var = _free_bits_inputs(n)
        got = _as_tensor(fn(mean, log_var, lam), "free_bits_kl(mean, log_var, lam)")
        kl_bj = per_dim(mean, log_var)
        want = torch.clamp(kl_bj.mean(0), min=lam).sum()
        if got.dim() != 0:
            raise ExerciseError(
                f"{what}: return one number (the sum over dimensions), got shape "
                f"{tuple(got.shape)}."
            )
        versus = f"expected {want.item():.6g}, got {got.item():.6g}"
        wrongs = [
            (torch.clamp(kl_bj, min=lam).sum(-1).mean(), n > 1 and lam > 0,
             "you clamped each example's KL; free bits clamp each dimension's KL averaged over "
             "the batch first (KL_j = mean over b), then take max(lam, KL_j)"),
            (gaussian_kl(mean, log_var).mean(), lam > 0, "that is the plain KL; no dimension was "
             "clamped at lam"),
            (torch.clamp(kl_bj.sum(0), min=lam).sum(), n > 1, "KL_j summed over the batch: "
             "average it over the batch (mean over b)"),
            (torch.clamp(2 * kl_bj.mean(0), min=lam).sum(), True, "twice each KL_j: the 1/2 of "
             "KL_j = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2) is missing"),
            (torch.clamp(-kl_bj.mean(0), min=lam).sum(), lam > 0, "the sign of KL_j is flipped: "
             "KL_j = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2) is never negative"),
            (torch.clamp(kl_bj.mean(0), max=lam).sum(), lam > 0, "that is min(lam, KL_j): the "
             "floor is max(lam, KL_j), torch.clamp(kl_j, min=lam)"),
        ]  # fmt: skip
        for wrong, applies, hint in wrongs:
            if applies and not _close(wrong, want) and _close(got.detach(), wrong.detach()):
                raise ExerciseError(f"{what}: {hint}; {versus}.")
        if not _close(got.detach(), want.detach(), rtol=1e-6):
            raise ExerciseError(
                f"{what}: sum_j max(lam, KL_j). {_likely_mistake(got, want, batch=n)}"
            )
        if not got.requires_grad:
            raise ExerciseError(f"{what}: the result has no gradient; keep it in torch.")
        (grad,) = torch.autograd.grad(got, mean)
        below = kl_bj.mean(0) < lam
        if lam > 0 and below.any() and grad[:, below].abs().max() > 0:
            raise ExerciseError(
                f"{what}: a dimension below lam still gets a gradient; max(lam, KL_j) must be "
                "constant there (torch.clamp(kl_j, min=lam) does it)."
            )
    print("Correct: each dimension's batch-mean KL, floored at lambda; no gradient below it.")


def check_class_posterior(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise: ``fn(log_px_given_y, log_py)`` is log p(y|x) by Bayes' rule, ``(N, K)``:
    log p(x|y) + log p(y) - logsumexp_y'(log p(x|y') + log p(y'))."""
    g = _generator(11)
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
                "exp should sum to 1. " + _likely_mistake(got, want)
            )
    print("Correct: log p(y|x) by Bayes' rule, normalized in log space.")


def check_conv_side(fn: Callable[[int, int, int, int], int]) -> None:
    """Exercise: ``fn(n, kernel, stride, padding)`` is a convolution's output side,
    floor((n + 2 padding - kernel) / stride) + 1, as torch computes it."""
    from torch import nn

    cases = [(28, 4, 2, 1), (7, 4, 2, 1), (28, 3, 2, 1), (7, 3, 2, 1), (1, 3, 2, 1),
             (5, 3, 1, 0), (28, 5, 1, 2), (3, 3, 1, 0), (13, 4, 3, 0)]  # fmt: skip
    g = _generator(16)
    for _ in range(10):  # random sizes, each with an output of at least one pixel
        k, s, p = (
            int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((1, 8), (1, 4), (0, 4))
        )
        n = max(k - 2 * p, 1) + int(torch.randint(0, 40, (1,), generator=g))
        cases.append((n, k, s, p))
    for n, k, s, p in cases:
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


def check_paired_difference(
    fn: Callable[[torch.Tensor, torch.Tensor], tuple[float, float]],
) -> None:
    """Exercise: ``fn(a, b)`` for two models' values on the same n digits is the mean difference
    d = (1/n) sum_i (a_i - b_i) and its standard error sd(a - b) / sqrt(n), with the sample
    standard deviation (n - 1 in its denominator)."""
    g = _generator(12)
    n = 400
    difficulty = 85 + 20 * torch.randn(n, generator=g, dtype=torch.float64)  # shared by both
    a = difficulty + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    b = difficulty - 1.0 + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    d = a - b
    want_mean, want_se = d.mean().item(), (d.std() / math.sqrt(n)).item()
    got = fn(a.clone(), b.clone())
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise ExerciseError(f"Return two numbers (mean, standard_error), got {got!r}.")
    try:
        mean, se = float(got[0]), float(got[1])
    except (TypeError, ValueError, RuntimeError) as error:
        raise ExerciseError(f"Return two numbers (floats or 0-d tensors): {error}") from None
    if math.isclose(mean, -want_mean, rel_tol=1e-6):
        raise ExerciseError("The mean has the wrong sign: the difference is a - b, not b - a.")
    if not math.isclose(mean, want_mean, rel_tol=1e-6):
        raise ExerciseError(f"Mean difference: expected {want_mean:.4f}, got {mean:.4f}.")
    unpaired = math.sqrt((a.var() / n + b.var() / n).item())
    if math.isclose(se, unpaired, rel_tol=1e-3):
        raise ExerciseError(
            "That is the unpaired error, sqrt(var(a)/n + var(b)/n): it treats the two models as "
            "independent samples. Pair them: the standard error of the differences a_i - b_i."
        )
    if math.isclose(se, d.std().item() / n, rel_tol=1e-3):
        raise ExerciseError("Divide the standard deviation by sqrt(n), not by n.")
    if math.isclose(se, (d.std(correction=0) / math.sqrt(n)).item(), rel_tol=1e-6):
        raise ExerciseError("Use the sample standard deviation, with n - 1 in its denominator.")
    if not math.isclose(se, want_se, rel_tol=1e-6):
        raise ExerciseError(f"Standard error: expected {want_se:.4f}, got {se:.4f}.")
    print(
        f"Correct: on these {n} paired values the difference is {want_mean:.2f} ± {want_se:.3f}; "
        f"treated as independent, its error would have been ±{unpaired:.2f}."
    )


def check_negative_elbo(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise: ``fn(logits, x, mean, log_var)`` is the VAE loss: the negative ELBO per example
    (summed over pixels and latent dimensions), averaged over the batch, as one number."""
    g = _generator(13)
    b = 5
    logits = 3 * torch.randn(b, 784, generator=g, dtype=torch.float64)
    x = torch.bernoulli(torch.full((b, 784), 0.2, dtype=torch.float64), generator=g)
    mean = torch.randn(b, 4, generator=g, dtype=torch.float64)
    log_var = torch.randn(b, 4, generator=g, dtype=torch.float64)
    _main_then_edge_cases(
        partial(_negative_elbo_main_case, fn, logits, x, mean, log_var),
        partial(_negative_elbo_edge_case, fn, logits[:1], x[:1]),
        "Correct: the negative ELBO, summed per example and averaged over the batch.",
    )


def _negative_elbo_main_case(
    fn: Callable[..., torch.Tensor],
    logits: torch.Tensor,
    x: torch.Tensor,
    mean: torch.Tensor,
    log_var: torch.Tensor,
) -> None:
    from vae_tutorial.losses import gaussian_kl, negative_elbo

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
            raise ExerciseError(f"{hint} {_versus(got, want)}")
    probs = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.sigmoid(logits), x, reduction="none"
    ).sum(1)
    if _close(got, probs.mean() + kl.mean()):
        raise ExerciseError("The logits went through a sigmoid twice: pass the logits as they are.")
    if not _close(got, want):
        raise ExerciseError(
            "Not yet: mean over the batch of [sum over pixels of BCE(logits, x) + "
            "KL(q(z|x) || N(0, I))], KL = -1/2 sum_j (1 + log_var_j - mean_j^2 - exp(log_var_j)). "
            + _likely_mistake(got, want, batch=len(x))
        )


def _negative_elbo_edge_case(
    fn: Callable[..., torch.Tensor],
    one_logits: torch.Tensor,
    one_x: torch.Tensor,
    mean: torch.Tensor,
    log_var: torch.Tensor,
    what: str,
) -> None:
    from vae_tutorial.losses import negative_elbo

    got = _as_tensor(fn(one_logits, one_x, mean, log_var), "negative_elbo(...)")
    want = negative_elbo(one_logits, one_x, mean, log_var).loss
    if got.numel() != 1 or not _close(got.double().reshape(()), want, rtol=1e-6):
        raise ExerciseError(
            f"For a batch of one with {what} the loss is {want.item():.6g}; you gave "
            f"{got.detach().flatten().tolist()}."
        )
