"""Where the time of one training step goes: the ceiling behind ``train_throughput.py``'s ratio.

Times, for the benchmark's 784-400-20 VAE at batch 128 on random binary images (no data needed):
one Adam step of the package's model and loss in float32, the same step under bfloat16 autocast, the
step's five large matrix products alone (float32 and bfloat16, with their GFLOP/s), and PyTorch's
``log1p`` against ``log`` on a batch-sized tensor (``binary_cross_entropy_with_logits`` uses
``log1p``). Each figure is the median of several timed repeats.

Run: ``python benchmarks/step_anatomy.py [--threads N]`` (default: one thread).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.train import _adam

BATCH, PIXELS, HIDDEN = 128, 784, 400


def milliseconds(fn: Callable[[], object], calls: int = 200, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean time of one call, in ms, after a warm-up."""
    for _ in range(calls // 4):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(times)


def training_step(x: torch.Tensor, bf16: bool) -> Callable[[], None]:
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=20, hidden_dims=(HIDDEN,)))
    optimizer = _adam(model, lr=1e-3)  # the optimizer train() builds: fused Adam where supported

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(x).loss
        loss.backward()
        optimizer.step()

    return step


def matrix_products(dtype: torch.dtype) -> Callable[[], None]:
    """The step's large products: encoder forward and weight gradient; decoder forward, input
    gradient and weight gradient (the 20-wide latent layers are negligible)."""
    g = torch.Generator().manual_seed(0)
    x, h = torch.randn(BATCH, PIXELS, generator=g), torch.randn(BATCH, HIDDEN, generator=g)
    w1, w4 = torch.randn(PIXELS, HIDDEN, generator=g), torch.randn(HIDDEN, PIXELS, generator=g)
    x, h, w1, w4 = (t.to(dtype) for t in (x, h, w1, w4))
    d_out = torch.randn(BATCH, PIXELS, generator=g).to(dtype)

    def products() -> None:
        x @ w1, x.T @ h, h @ w4, d_out @ w4.T, h.T @ d_out

    return products


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.bernoulli(
        torch.full((BATCH, PIXELS), 0.13), generator=torch.Generator().manual_seed(0)
    )
    flops = 5 * 2 * BATCH * PIXELS * HIDDEN
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), 784-400-20, batch {BATCH}"
    )
    fp32, bf16 = training_step(x, bf16=False), training_step(x, bf16=True)
    print(f"{'Adam step, float32:':<40}{milliseconds(fp32):7.2f} ms")
    print(f"{'Adam step, bfloat16 autocast:':<40}{milliseconds(bf16):7.2f} ms")
    for dtype in (torch.float32, torch.bfloat16):
        ms = milliseconds(matrix_products(dtype))
        label = f"its 5 large products, {str(dtype).removeprefix('torch.')}:"
        print(f"{label:<40}{ms:7.2f} ms  ({flops / ms / 1e6:,.0f} GFLOP/s)")
    t = torch.randn(BATCH, PIXELS).abs()
    print(f"{'torch.log1p on (128, 784):':<40}{milliseconds(lambda: torch.log1p(t)):7.3f} ms")
    print(f"{'torch.log on (128, 784):':<40}{milliseconds(lambda: torch.log(t)):7.3f} ms")


if __name__ == "__main__":
    main()
