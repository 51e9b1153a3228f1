"""Where the time of the importance-weighted evaluation goes: the profile behind ``eval_speed.py``.

``log_likelihood`` draws k = 5,000 samples of z for 100 digits at a time, 250 samples per chunk:
25,000 rows of 784 pixels per chunk. This times, for one such chunk with the evaluation chapter's
reference model (784-200-200-50 tanh) and 100 random binary digits (no data needed), each piece of
the computation: the noise, z and the two Gaussian densities, the decoder, the Bernoulli term
log p(x|z), and the float64 log-sum-exp. The decoder and the Bernoulli term are timed on all
25,000 rows at once (as before) and in blocks of 1,000 rows; the Bernoulli term as
``binary_cross_entropy_with_logits`` of the expanded input (before) and as the package's
``bernoulli_log_likelihood_fast`` (now). Last, the ``log1p`` kernel against ``log`` on 25 blocks
of (1,000, 784) values exp(-|l|), a chunk's worth of pixels. Each figure is the median of several
repeats.

Run: ``python benchmarks/eval_anatomy.py [--threads N]`` (default: torch's).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vae_tutorial.evaluate import bernoulli_log_likelihood_fast
from vae_tutorial.losses import gaussian_log_density
from vae_tutorial.train import load_model, reference_checkpoint

DIGITS, SAMPLES, BLOCK = 100, 250, 1_000  # one chunk of log_likelihood: 25,000 rows


def milliseconds(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median over ``repeats`` calls, in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (torch's default)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model = load_model(reference_checkpoint("burda_vae")).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((DIGITS, 784), 0.13), generator=g)
    mean, log_var = model.encode(x)
    eps = torch.randn((SAMPLES, DIGITS, mean.shape[-1]), generator=g)
    z = mean + torch.exp(0.5 * log_var) * eps
    zeros = torch.zeros_like(mean)
    logits = model.decode(z)
    per_block = BLOCK // DIGITS

    def blocks(fn: Callable[[torch.Tensor], object]) -> Callable[[], None]:
        return lambda: [fn(part) for part in z.split(per_block)]

    def bce(logits: torch.Tensor) -> torch.Tensor:
        target = x.expand(len(logits), *x.shape)
        return -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)

    u = torch.exp(-logits[:per_block].abs())  # one block's exp(-|l|), in (0, 1]
    rows = [
        ("noise: randn (250, 100, 50)", lambda: torch.randn(eps.shape, generator=g)),
        (
            "z and log N(z; 0, I) - log q(z|x)",
            lambda: (
                gaussian_log_density(mean + torch.exp(0.5 * log_var) * eps, zeros, zeros)
                - gaussian_log_density(z, mean, log_var)
            ),
        ),
        ("decoder, 25,000 rows at once", lambda: model.decode(z)),
        ("decoder, 1,000-row blocks", blocks(model.decode)),
        ("BCE of expanded x, 25,000 rows at once", lambda: bce(logits)),
        ("BCE of expanded x, 1,000-row blocks", lambda: [bce(p) for p in logits.split(per_block)]),
        (
            "fast Bernoulli term, 25,000 rows at once",
            lambda: bernoulli_log_likelihood_fast(logits, x),
        ),
        (
            "fast Bernoulli term, 1,000-row blocks",
            lambda: [bernoulli_log_likelihood_fast(p, x) for p in logits.split(per_block)],
        ),
        ("decoder + BCE, 25,000 rows at once (before)", lambda: bce(model.decode(z))),
        (
            "decoder + fast term, 1,000-row blocks (now)",
            blocks(lambda part: bernoulli_log_likelihood_fast(model.decode(part), x)),
        ),
        (
            "float64 log-sum-exp of (250, 100) log-weights",
            lambda: torch.logsumexp(logits[..., 0].double(), dim=0),
        ),
        (
            "log1p, 25 blocks of (1,000, 784)",
            lambda: [torch.log1p(u) for _ in range(25)],
        ),
        (
            "log, 25 blocks of (1,000, 784)",
            lambda: [torch.log(u) for _ in range(25)],
        ),
    ]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; one chunk of "
        f"{SAMPLES} samples x {DIGITS} digits = {SAMPLES * DIGITS:,} rows"
    )
    for name, fn in rows:
        print(f"{name:<48} {milliseconds(fn):8.1f} ms")


if __name__ == "__main__":
    main()
