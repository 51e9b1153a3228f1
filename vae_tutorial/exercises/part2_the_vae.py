"""Checks for Part II, The VAE (chapters 5-7): building, training and evaluating it."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ._checking import ExerciseError, _as_tensor, _close, _generator, _likely_mistake, _shape

__all__ = [
    "check_count_parameters",
    "check_train_step",
    "check_iwae_from_log_weights",
]


def check_count_parameters(fn: Callable[[int, tuple[int, ...], int], int]) -> None:
    """Exercise: ``fn(input_dim, hidden_dims, latent_dim)`` counts an MLP VAE's parameters."""
    from vae_tutorial.model import VAE, VAEConfig

    cases = [(784, (400,), 20), (784, (200, 200), 50), (784, (256,), 2), (10, (), 1), (5, (3,), 1)]
    g = _generator(17)
    for _ in range(3):  # random sizes: 0 to 3 hidden layers
        depth = int(torch.randint(0, 4, (1,), generator=g))
        sizes = torch.randint(1, 300, (depth + 2,), generator=g).tolist()
        cases.append((sizes[0], tuple(sizes[1:-1]), sizes[-1]))
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
    print(
        f"Correct: your count matches PyTorch's for {len(cases)} shapes, including no hidden layer."
    )


def check_train_step(fn: Callable[..., float]) -> None:
    """Exercise: ``fn(model, optimizer, x)`` takes one Adam step on the negative ELBO of ``x``."""
    from vae_tutorial.model import VAE, VAEConfig

    def make() -> tuple[VAE, torch.optim.Optimizer]:
        torch.manual_seed(_generator(0).initial_seed())
        model = VAE(VAEConfig(latent_dim=3, hidden_dims=(16,)))
        return model, torch.optim.Adam(model.parameters(), lr=1e-2)

    x = torch.bernoulli(torch.full((8, 784), 0.3), generator=_generator(1))
    theirs, their_opt = make()
    ours, our_opt = make()
    with torch.random.fork_rng():
        torch.manual_seed(_generator(2).initial_seed())
        for _ in range(2):  # two steps: a forgotten zero_grad shows on the second
            got = fn(theirs, their_opt, x)
    with torch.random.fork_rng():
        torch.manual_seed(_generator(2).initial_seed())
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
    g = _generator(0)
    k, batch = 50, 7
    log_w = torch.randn(k, batch, generator=g, dtype=torch.float64) * 3 - 90
    got = _as_tensor(fn(log_w), "iwae_from_log_weights(log_w)")
    want = torch.logsumexp(log_w, 0) - math.log(k)
    _shape(got, want, "one bound per example (the k samples are dimension 0)")
    versus = f"Expected {want[0].item():.6f}, got {got[0].item():.6f} for the first example."
    if _close(got, log_w.mean(0)):
        raise ExerciseError(
            "You averaged the log-weights: that is the ELBO's estimate, whatever k is. Average "
            f"the weights themselves, then take the log. {versus}"
        )
    constants = [
        (math.log(k), "Subtract log k: the bound is the log of the *mean* of the weights."),
        (2 * math.log(k), "The constant has the wrong sign: + log k instead of - log k."),
        (math.log(k) - math.log(k - 1), "Subtract log k, not log(k - 1): the mean of k weights."),
        (math.log(k) - math.log(batch), "Subtract log k, the number of samples (dimension 0), "
         "not the log of the batch size."),
    ]  # fmt: skip
    for offset, hint in constants:
        if _close(got, want + offset):
            raise ExerciseError(f"{hint} {versus}")
    if not _close(got, want):
        raise ExerciseError(
            "Not yet: L_k = log( (1/k) * sum_i exp(log_w_i) ) for each example. "
            + _likely_mistake(got, want)
        )
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
