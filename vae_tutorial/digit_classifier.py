"""A small digit classifier, trained on real digits, used as a judge of decoded images.

Chapter 8 asks how much of the prior's mass decodes to something that is not a digit. A judge
that never saw the VAE answers it: an MLP 784-256-10 trained on the real training digits
(intensities in [0, 1]) with cross-entropy. An image it cannot label confidently (largest softmax
probability below a threshold) is counted as "not clearly a digit".
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["train_digit_classifier", "confidence"]


def _as_input(images: torch.Tensor) -> torch.Tensor:
    x = images.reshape(len(images), -1)
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def train_digit_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int = 3,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> nn.Sequential:
    """Fit an MLP 784-256-10 (ReLU) to ``(images, labels)`` by minimizing the cross-entropy.

    ``images``: uint8 ``(N, 28, 28)`` or float in [0, 1]. Runs on the CPU; a few seconds for
    full MNIST. Returns the network in eval mode; it outputs logits.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    x, y = _as_input(images), labels.long()
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(net(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval()


@torch.no_grad()
def confidence(classifier: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's label and its probability max_c softmax(f(x))_c for each image."""
    probabilities = torch.softmax(classifier(_as_input(images).cpu()), dim=1)
    best, label = probabilities.max(dim=1)
    return label, best
