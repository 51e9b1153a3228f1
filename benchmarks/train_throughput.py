"""Training throughput: the package's training loop vs. the usual PyTorch pipeline, same model.

The usual pipeline is pytorch/examples ``vae/main.py``: ``torchvision.datasets.MNIST`` with
``transforms.ToTensor()``, a ``DataLoader`` (batch 128, shuffled), and its training loop, with its
784-400-20 model. The package's side is ``vae_tutorial.train.train`` with the same 784-400-20 ReLU
VAE and batch size, on in-memory batches. Both train for the same number of epochs on the same
machine in one run; we report training images per second (the package's per-epoch test
evaluation, on 1,000 digits, is included in its time).

Run: ``python benchmarks/train_throughput.py [--threads N]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from usual_pipeline import torchvision_mnist

from vae_tutorial.data import MNISTData, default_data_root, load_mnist
from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.train import TrainConfig, train


class ExampleVAE(nn.Module):
    """The model of pytorch/examples vae/main.py, kept as it is there (the baseline, not ours)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        z = mu + torch.randn_like(logvar) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def usual_pipeline(root: Path, epochs: int, batch_size: int) -> float:
    from torch.utils.data import DataLoader

    with torchvision_mnist(root) as dataset:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
        torch.manual_seed(1)
        model = ExampleVAE()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        start = time.perf_counter()
        for _ in range(epochs):
            train_loss = 0.0
            for data, _ in loader:
                optimizer.zero_grad()
                recon, mu, logvar = model(data)
                bce = F.binary_cross_entropy(recon, data.view(-1, 784), reduction="sum")
                loss = bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                loss.backward()
                train_loss += loss.item()
                optimizer.step()
        seconds = time.perf_counter() - start
    return epochs * len(dataset) / seconds


def package_loop(data: MNISTData, epochs: int, batch_size: int) -> float:
    subset = MNISTData(
        data.train_images,
        data.train_labels,
        data.test_images[:1000],
        data.test_labels[:1000],
        data.source,
    )
    torch.manual_seed(1)
    model = VAE(VAEConfig(latent_dim=20, hidden_dims=(400,)))
    start = time.perf_counter()
    train(
        model, subset, TrainConfig(epochs=epochs, batch_size=batch_size), progress=False, log=None
    )
    return epochs * len(data.train_images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per pipeline (default: 2)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = default_data_root()
    data = load_mnist(root, verbose=False)
    if not data.is_full:
        raise SystemExit(
            f"This benchmark needs full MNIST in {root}/MNIST/raw (set VAE_TUTORIAL_DATA)."
        )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"784-400-20, batch {args.batch_size}"
    )
    usual = usual_pipeline(root, args.epochs, args.batch_size)
    ours = package_loop(data, args.epochs, args.batch_size)
    print(f"{'usual pipeline (pytorch/examples):':<36}{usual:>10,.0f} images/s")
    print(f"{'vae_tutorial.train:':<36}{ours:>10,.0f} images/s")
    print(f"ratio: {ours / usual:.2f}x")


if __name__ == "__main__":
    main()
