"""The automatic checks of chapter 13's mistakes: each fires on its mistake and on nothing else."""

from __future__ import annotations

import torch

from vae_tutorial.diagnostics import diagnose
from vae_tutorial.losses import NegativeELBO
from vae_tutorial.model import VAE, ConditionalVAE, VAEConfig

CONFIG = VAEConfig(latent_dim=3, hidden_dims=(16,))


def _batch() -> torch.Tensor:
    return torch.bernoulli(torch.full((8, 784), 0.2), generator=torch.Generator().manual_seed(0))


class ReluBeforeSigmoid(VAE):
    def decode(self, z):
        return torch.relu(super().decode(z))


class DoubleSigmoid(VAE):
    def decode(self, z):
        return torch.sigmoid(super().decode(z))


class TorchNormal(VAE):
    def forward(self, x, y=None):
        mean, log_var = self.encode(x)
        z = torch.normal(mean, torch.exp(0.5 * log_var))
        return self.decode(z), mean, log_var


class KLSubtracted(VAE):
    def loss(self, batch, kl_weight=1.0, free_bits=0.0, importance_samples=1):
        out = super().loss(batch, kl_weight, free_bits, importance_samples)
        return NegativeELBO(out.reconstruction - out.kl, out.reconstruction, out.kl)


def _model(cls: type[VAE]) -> VAE:
    torch.manual_seed(0)
    return cls(CONFIG)


def test_a_correct_vae_passes_every_check() -> None:
    assert diagnose(_model(VAE), _batch()) == []
    torch.manual_seed(1)
    conditional = ConditionalVAE(VAEConfig(latent_dim=3, hidden_dims=(16,), n_classes=10))
    assert diagnose(conditional, (_batch(), torch.arange(8) % 10)) == []


def test_each_mistake_is_diagnosed_in_plain_words() -> None:
    for cls, words in [
        (ReluBeforeSigmoid, "ReLU or a sigmoid before"),
        (DoubleSigmoid, "ReLU or a sigmoid before"),
        (TorchNormal, "torch.normal"),
        (KLSubtracted, "subtracted"),
    ]:
        found = diagnose(_model(cls), _batch())
        assert len(found) == 1 and words in found[0], (cls.__name__, found)


def test_a_negative_kl_is_flagged() -> None:
    from vae_tutorial.diagnostics import check_kl

    assert check_kl(torch.tensor(0.3)) is None
    assert "never negative" in check_kl(torch.tensor(-0.5))


def test_train_logs_the_findings_after_the_first_epoch_only(small_mnist) -> None:
    from vae_tutorial.train import TrainConfig, train

    for cls, expected in ((ReluBeforeSigmoid, 1), (VAE, 0)):
        lines: list[str] = []
        train(_model(cls), small_mnist, TrainConfig(epochs=2, batch_size=64), progress=False,
              log=lines.append)  # fmt: skip
        warnings = [line for line in lines if line.startswith("warning:")]
        assert len(warnings) == expected, lines
        if expected:
            assert "ReLU or a sigmoid before" in warnings[0]
            assert lines.index(warnings[0]) == 1  # right after epoch 1's line


def test_a_nan_before_any_step_blames_the_loss_formula_not_the_learning_rate(small_mnist) -> None:
    import pytest

    from vae_tutorial.train import TrainConfig, TrainingDiverged, train

    class KLDivOfMeanAndLogStd(VAE):
        def loss(self, batch, kl_weight=1.0, free_bits=0.0, importance_samples=1):
            out = super().loss(batch, kl_weight, free_bits, importance_samples)
            _, mean, log_var = self(batch.x)
            kl = torch.nn.KLDivLoss(reduction="batchmean")(mean, 0.5 * log_var)  # NaN
            return NegativeELBO(out.reconstruction + kl, out.reconstruction, kl)

    with pytest.raises(TrainingDiverged, match="batch 1.*loss formula itself") as caught:
        train(_model(KLDivOfMeanAndLogStd), small_mnist, TrainConfig(epochs=1), progress=False,
              log=None)  # fmt: skip
    assert "learning rate too high" not in str(caught.value)
