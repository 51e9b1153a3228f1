"""How fast can MNIST mini-batches be made? The package's in-memory batches vs. the usual pipeline.

The usual pipeline is the one in the PyTorch examples: ``torchvision.datasets.MNIST`` with
``transforms.ToTensor()`` and a ``DataLoader`` (batch 128, shuffled). Both sides produce the same
thing, float batches of shape (128, 784) in [0, 1] with dynamic binarization, and do no training,
so this isolates the cost of the data pipeline. Run: ``python benchmarks/data_throughput.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from usual_pipeline import torchvision_mnist

from vae_tutorial.data import Batches, default_data_root, load_mnist


def usual_pipeline(root: Path, batch_size: int, workers: int) -> tuple[int, float]:
    from torch.utils.data import DataLoader

    with torchvision_mnist(root) as dataset:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
        start = time.perf_counter()
        n = 0
        for x, _ in loader:
            x = torch.bernoulli(x.view(len(x), -1))
            n += len(x)
        return n, time.perf_counter() - start


def package_batches(batch_size: int) -> tuple[int, float]:
    data = load_mnist(verbose=False)
    batches = Batches(data.train_images, batch_size=batch_size, binarize="dynamic")
    start = time.perf_counter()
    n = sum(len(x) for x in batches)
    return n, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default: 0)")
    args = parser.parse_args()
    root = default_data_root()
    if not load_mnist(root, verbose=False).is_full:
        raise SystemExit(
            f"This benchmark needs full MNIST in {root}/MNIST/raw (set VAE_TUTORIAL_DATA)."
        )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}")
    n_usual, t_usual = usual_pipeline(root, args.batch_size, args.workers)
    n_ours, t_ours = package_batches(args.batch_size)
    usual = f"usual pipeline ({args.workers} workers):"
    print(f"{usual:<32}{n_usual / t_usual:>12,.0f} images/s ({t_usual:.2f} s/epoch)")
    ours = "vae_tutorial Batches:"
    print(f"{ours:<32}{n_ours / t_ours:>12,.0f} images/s ({t_ours:.2f} s/epoch)")
    print(f"ratio: {t_usual / t_ours:.0f}x")


if __name__ == "__main__":
    main()
