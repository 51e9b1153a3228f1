"""The autoregressive decoder: each pixel reads only earlier pixels; the loss and bound by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vae_tutorial.autoregressive import AutoregressiveVAE
from vae_tutorial.evaluate import iwae_bound
from vae_tutorial.losses import gaussian_kl, gaussian_log_density
from vae_tutorial.model import VAEConfig
from vae_tutorial.variants import build_model

STRONG = VAEConfig(latent_dim=3, hidden_dims=(16,), autoregressive=True)


def _model() -> AutoregressiveVAE:
    torch.manual_seed(0)
    model = build_model(STRONG)
    with torch.no_grad():  # weights away from their zero start, so the mask matters
        model.autoregression.weight.normal_(0, 0.1)
    return model


def test_a_pixel_reads_only_the_pixels_before_it() -> None:
    model = _model()
    x = torch.bernoulli(torch.rand(1, 784)).requires_grad_(True)
    logits = model.score_logits(torch.zeros(1, 3), x)
    for i in (0, 1, 400, 783):
        (grad,) = torch.autograd.grad(logits[0, i], x, retain_graph=True)
        assert (grad[0, i:] == 0).all()
        assert i == 0 or (grad[0, :i] != 0).any()


def test_the_loss_is_the_teacher_forced_negative_elbo_by_hand() -> None:
    model = _model()
    x = torch.bernoulli(torch.rand(4, 784))
    torch.manual_seed(1)
    out = model.loss(x)
    torch.manual_seed(1)
    mean, log_var = model.encode(x)
    z = mean + torch.exp(0.5 * log_var) * torch.randn(4, 3)
    weight = model.autoregression.weight * torch.ones(784, 784).tril(-1)
    logits = model.decode(z) + x @ weight.T
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 4
    torch.testing.assert_close(out.reconstruction, rec)
    torch.testing.assert_close(out.kl, gaussian_kl(mean, log_var).mean())


def test_the_bound_scores_each_pixel_given_the_earlier_ones() -> None:
    model = _model().eval()
    x = torch.bernoulli(torch.rand(5, 784))
    l1 = iwae_bound(model, x, 1, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mean, log_var = model.encode(x)
        eps = torch.randn((1, 5, 3), generator=torch.Generator().manual_seed(2))[0]
        z = mean + torch.exp(0.5 * log_var) * eps
        log_px = -F.binary_cross_entropy_with_logits(
            model.score_logits(z, x), x, reduction="none"
        ).sum(-1)
        zeros = torch.zeros_like(mean)
        want = (
            log_px + gaussian_log_density(z, zeros, zeros) - gaussian_log_density(z, mean, log_var)
        )
    torch.testing.assert_close(l1, want.double(), rtol=1e-6, atol=1e-4)


def test_sampling_is_pixel_by_pixel_and_means_are_refused() -> None:
    model = _model()
    draws = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (3, 784) and set(draws.unique().tolist()) <= {0.0, 1.0}
    again = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)
    with pytest.raises(NotImplementedError, match="pixel by pixel"):
        model.sample_means(2)


def test_configuration() -> None:
    assert isinstance(build_model(STRONG), AutoregressiveVAE)
    assert "autoregressive decoder" in STRONG.describe()
    assert "autoregressive" not in repr(VAEConfig())
    assert repr(STRONG).endswith("autoregressive=True)")
    with pytest.raises(ValueError, match="unconditional MLP only"):
        VAEConfig(autoregressive=True, n_classes=10)
    with pytest.raises(ValueError, match="unconditional MLP only"):
        VAEConfig(autoregressive=True, architecture="conv", hidden_dims=(4, 8))
    with pytest.raises(ValueError, match="needs VAEConfig"):
        AutoregressiveVAE(VAEConfig())
    assert VAEConfig(**STRONG.to_dict()) == STRONG
