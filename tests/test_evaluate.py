"""The importance-weighted bound: k = 1 is the ELBO, and the bound rises with k."""

from __future__ import annotations

import math

import pytest
import torch

from vae_tutorial.data import TEST_BINARIZATION_SEED, Batches
from vae_tutorial.evaluate import (
    active_units,
    iwae_bound,
    kl_per_dimension,
    log_likelihood,
    paired_difference,
)
from vae_tutorial.losses import bernoulli_log_likelihood, gaussian_kl, gaussian_log_density
from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.train import TrainConfig, train


def _trained(small_mnist) -> VAE:
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden_dims=(64,)))
    train(model, small_mnist, TrainConfig(epochs=3, batch_size=64), progress=False, log=None)
    return model.eval()


def _digits(small_mnist, n: int) -> torch.Tensor:
    return torch.bernoulli(small_mnist.test_images[:n].reshape(n, -1).float() / 255)


def test_k1_equals_the_elbo_estimate(small_mnist) -> None:
    """With the same noise, L_1 is the one-sample ELBO log p(x|z) + log p(z) - log q(z|x)."""
    model, x = _trained(small_mnist), _digits(small_mnist, 8)
    with torch.no_grad():
        l1 = iwae_bound(model, x, 1, generator=torch.Generator().manual_seed(3))
        mean, log_var = model.encode(x)
        eps = torch.randn((1, *mean.shape), generator=torch.Generator().manual_seed(3))[0]
        z = mean + torch.exp(0.5 * log_var) * eps
        zeros = torch.zeros_like(mean)
        elbo = (
            bernoulli_log_likelihood(model.decode(z), x)
            + gaussian_log_density(z, zeros, zeros)
            - gaussian_log_density(z, mean, log_var)
        )
    assert l1.shape == (8,)
    torch.testing.assert_close(l1, elbo.double(), rtol=1e-6, atol=1e-4)


def test_k1_averages_to_the_closed_form_elbo(small_mnist) -> None:
    model, x = _trained(small_mnist), _digits(small_mnist, 4)
    n = 2000
    with torch.no_grad():
        mean, log_var = model.encode(x)
        l1 = torch.stack(
            [iwae_bound(model, x, 1, generator=torch.Generator().manual_seed(s)) for s in range(n)]
        )
        g = torch.Generator().manual_seed(10_000)
        elbo = []
        for _ in range(n):
            z = mean + torch.exp(0.5 * log_var) * torch.randn(mean.shape, generator=g)
            elbo.append(bernoulli_log_likelihood(model.decode(z), x) - gaussian_kl(mean, log_var))
        elbo = torch.stack(elbo).double()
    se = (l1.var(0) / n + elbo.var(0) / n).sqrt()
    assert ((l1.mean(0) - elbo.mean(0)).abs() < 4 * se).all()


def test_the_bound_rises_with_k_and_chunking_does_not_matter(small_mnist) -> None:
    model = _trained(small_mnist)
    images = small_mnist.test_images[:64]
    means = [log_likelihood(model, images, k, batch_size=32).mean().item() for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2]
    x = _digits(small_mnist, 4)
    a = iwae_bound(model, x, 50, chunk=50, generator=torch.Generator().manual_seed(0))
    b = iwae_bound(model, x, 50, chunk=7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)


def test_collapse_diagnostics(small_mnist) -> None:
    model = _trained(small_mnist)
    kl = kl_per_dimension(model, small_mnist.test_images)
    count, activity = active_units(model, small_mnist.test_images)
    assert kl.shape == activity.shape == (4,) and (kl >= 0).all()
    assert 0 <= count <= 4
    with torch.no_grad():  # a collapsed model: the encoder ignores x and outputs the prior
        for layer in (model.to_mean, model.to_log_var):
            layer.weight.zero_()
            layer.bias.zero_()
    assert active_units(model, small_mnist.test_images)[0] == 0
    assert kl_per_dimension(model, small_mnist.test_images).abs().max() < 1e-6


def test_log_weights_are_log_p_x_z_minus_log_q() -> None:
    """Each log-weight is log p(x|z) + log p(z) - log q(z|x), checked with torch.distributions."""
    from torch.distributions import Bernoulli, Independent, Normal

    from vae_tutorial.evaluate import log_importance_weights
    from vae_tutorial.model import VAE, VAEConfig

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden_dims=(16,)))
    x = torch.bernoulli(torch.full((2, 784), 0.2))
    log_w = log_importance_weights(model, x, 5, generator=torch.Generator().manual_seed(1))
    assert log_w.shape == (5, 2)
    mean, log_var = model.encode(x)
    eps = torch.randn((5, 2, 3), generator=torch.Generator().manual_seed(1))
    z = mean + (0.5 * log_var).exp() * eps
    q = Independent(Normal(mean, (0.5 * log_var).exp()), 1)
    p_z = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    p_x = Independent(Bernoulli(logits=model.decode(z)), 1)
    want = p_x.log_prob(x) + p_z.log_prob(z) - q.log_prob(z)
    torch.testing.assert_close(log_w, want.detach(), rtol=1e-5, atol=1e-3)


def test_the_fast_bernoulli_term_equals_the_loss_module() -> None:
    """evaluate's faster log p(x|z) is losses.bernoulli_log_likelihood, extreme logits included."""
    from vae_tutorial.evaluate import bernoulli_log_likelihood_fast

    g = torch.Generator().manual_seed(0)
    logits = 6 * torch.randn((5, 3, 784), generator=g)
    logits[0, 0, :4] = torch.tensor([-100.0, 100.0, 0.0, 30.0])
    x = torch.bernoulli(torch.full((3, 784), 0.3), generator=g)
    want = bernoulli_log_likelihood(logits, x.expand(5, 3, 784))
    torch.testing.assert_close(bernoulli_log_likelihood_fast(logits, x), want, rtol=1e-6, atol=2e-3)


def _log_weights_before_blocking(model: VAE, x: torch.Tensor, k: int, generator) -> torch.Tensor:
    """log_importance_weights as it was: all k draws decoded at once, the loss module's term."""
    mean, log_var = model.encode(x)
    z = mean + torch.exp(0.5 * log_var) * torch.randn((k, *mean.shape), generator=generator)
    zeros = torch.zeros_like(mean)
    return (
        bernoulli_log_likelihood(model.decode(z), x.expand(k, *x.shape))
        + gaussian_log_density(z, zeros, zeros)
        - gaussian_log_density(z, mean, log_var)
    )


def test_decoding_in_blocks_gives_the_same_weights_and_bounds(small_mnist, monkeypatch) -> None:
    """Same seed, same numbers: the blocks change the speed, not the draws (float32 tolerance)."""
    from vae_tutorial import evaluate

    model, x = _trained(small_mnist), _digits(small_mnist, 8)
    monkeypatch.setattr(evaluate, "DECODE_ROWS", 64)  # 8 samples of 8 digits per block
    with torch.no_grad():
        want = _log_weights_before_blocking(model, x, 100, torch.Generator().manual_seed(4))
    got = evaluate.log_importance_weights(model, x, 100, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-3)

    images = small_mnist.test_images[:40]
    k, batch_size = 300, 20  # log_likelihood's chunks: 300 draws for 20 digits, in blocks of 3
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        before = []
        for x in evaluate.Batches(
            images,
            batch_size=batch_size,
            shuffle=False,
            binarize="static",
            seed=evaluate.TEST_BINARIZATION_SEED,
        ):
            before.append(torch.logsumexp(_log_weights_before_blocking(model, x, k, g).double(), 0))
        before = torch.cat(before) - math.log(k)
    after = log_likelihood(model, images, k, batch_size=batch_size)
    torch.testing.assert_close(after, before, rtol=1e-6, atol=1e-4)


def test_a_conditional_vae_is_bounded_on_log_p_x_given_y(small_mnist) -> None:
    """With labels, L_1 is log p(x|z,y) + log p(z) - log q(z|x,y); without them, a clear error."""
    from vae_tutorial.variants import build_model

    torch.manual_seed(0)
    model = build_model(VAEConfig(latent_dim=2, hidden_dims=(32,), n_classes=10))
    images, labels = small_mnist.test_images[:6], small_mnist.test_labels[:6]
    values = log_likelihood(model, images, 1, labels=labels, seed=4)
    x = next(iter(Batches(images, batch_size=6, shuffle=False, binarize="static",
                          seed=TEST_BINARIZATION_SEED)))  # fmt: skip
    with torch.no_grad():
        mean, log_var = model.encode(x, labels)
        eps = torch.randn((1, *mean.shape), generator=torch.Generator().manual_seed(4))[0]
        z = mean + torch.exp(0.5 * log_var) * eps
        zeros = torch.zeros_like(mean)
        elbo = (
            bernoulli_log_likelihood(model.decode(z, labels), x)
            + gaussian_log_density(z, zeros, zeros)
            - gaussian_log_density(z, mean, log_var)
        )
    torch.testing.assert_close(values, elbo.double(), rtol=1e-6, atol=1e-4)
    other = log_likelihood(model, images, 1, labels=(labels + 1) % 10, seed=4)
    assert not torch.allclose(values, other)
    with pytest.raises(ValueError, match=r"bounds log p\(x \| y\): pass the images' labels"):
        log_likelihood(model, images, 1)
    with pytest.raises(ValueError, match="one label per image"):
        log_likelihood(model, images, 1, labels=labels[:3])
    count, _ = active_units(model, images, labels=labels)
    assert 0 <= count <= 2


def test_paired_difference_by_hand_and_its_smaller_error() -> None:
    generator = torch.Generator().manual_seed(0)
    difficulty = 20 * torch.randn(400, generator=generator, dtype=torch.float64)
    a = -90 + difficulty + 0.5 * torch.randn(400, generator=generator, dtype=torch.float64)
    b = -91 + difficulty + 0.5 * torch.randn(400, generator=generator, dtype=torch.float64)
    mean, se = paired_difference(a, b)
    d = (a - b).tolist()
    by_hand_mean = sum(d) / len(d)
    by_hand_se = math.sqrt(sum((v - by_hand_mean) ** 2 for v in d) / (len(d) - 1) / len(d))
    assert mean == pytest.approx(by_hand_mean) and se == pytest.approx(by_hand_se)
    unpaired = math.sqrt(a.var().item() / len(a) + b.var().item() / len(b))
    assert se < unpaired / 10  # the shared difficulty cancels in the pairs
    assert paired_difference([1.0, 2.0], [0.0, 0.0]) == pytest.approx((1.5, 0.5))
    with pytest.raises(ValueError, match="same digits"):
        paired_difference(a, b[:-1])
