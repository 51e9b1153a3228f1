"""A small digit classifier, trained on real digits, used as a judge of decoded images.

Chapter 8 asks how much of the prior's mass decodes to something that is not a digit. A judge
that never saw the VAE answers it: an MLP 784-256-10 trained on the real training digits
(intensities in [0, 1]) with cross-entropy. An image it cannot label confidently (largest softmax
probability below a threshold) is counted as "not clearly a digit".
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "train_digit_classifier",
    "confidence",
    "judge_scores",
    "save_classifier",
    "load_classifier",
    "SURE",
]

FORMAT = "vae_tutorial.digit_classifier/1"
SURE = 0.9
"""The judge is *sure* of an image when its top class probability is at least this."""


def _as_input(images: torch.Tensor) -> torch.Tensor:
    x = images.reshape(len(images), -1)
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def _network() -> nn.Sequential:
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


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
        net = _network()
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


def judge_scores(
    classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor, seed: int = 0
) -> dict[str, float]:
    """What the judge's record says of it: its accuracy on ``(images, labels)``, and the share
    of as many images of uniform noise in [0, 1] that it is sure of (top probability >= SURE)."""
    guess, _ = confidence(classifier, images)
    noise = torch.rand(len(images), 784, generator=torch.Generator().manual_seed(seed))
    sure_of_noise = (confidence(classifier, noise)[1] >= SURE).double().mean().item()
    return {
        "test_accuracy": round((guess == labels).double().mean().item(), 4),
        "noise_sure_share": round(sure_of_noise, 4),
        "sure_threshold": SURE,
    }


def save_classifier(classifier: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write the judge's weights (a weights-only file, read back by :func:`load_classifier`)."""
    from vae_tutorial.train import save_atomically

    save_atomically({"format": FORMAT, "model": classifier.state_dict()}, path)
    return Path(path)


def load_classifier(path: str | os.PathLike[str]) -> nn.Sequential:
    """The judge saved at ``path``, in eval mode (``weights_only``: loading runs no code).

    Raises:
        ValueError: the file is not a digit classifier of this package."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - missing, truncated, or not a torch file
        raise ValueError(
            f"{path} is not a readable digit classifier ({type(err).__name__}); make one with "
            "`python -m vae_tutorial judge --out PATH`"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a vae_tutorial digit classifier (format {FORMAT!r})")
    net = _network()
    net.load_state_dict(state["model"])
    return net.eval()
