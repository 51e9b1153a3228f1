"""Interpolation, the prior's quantile grid, densities and PCA of vae_tutorial.latent."""

from __future__ import annotations

import math

import pytest
import torch

from vae_tutorial.data import TEST_BINARIZATION_SEED, Batches
from vae_tutorial.latent import (
    aggregate_posterior_log_density,
    code_use,
    decode_means,
    encode_means,
    even_grid,
    interpolate,
    lerp,
    norm_quantile,
    principal_directions,
    prior_log_density,
    prior_quantile_grid,
    quantile_cell_shares,
    slerp,
)
from vae_tutorial.losses import bernoulli_log_likelihood
from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.variants import build_model

T = torch.linspace(0, 1, 11)


def _pair(d: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, generator=g, dtype=torch.float64), torch.randn(
        d, generator=g, dtype=torch.float64
    )


@pytest.mark.parametrize("path", [lerp, slerp])
def test_paths_start_and_end_at_the_endpoints(path) -> None:
    a, b = _pair()
    z = path(a, b, T)
    assert z.shape == (11, 20)
    torch.testing.assert_close(z[0], a)
    torch.testing.assert_close(z[-1], b)
    assert path(a, b, 0.5).shape == (1, 20)


def test_lerp_is_the_straight_line() -> None:
    a, b = _pair()
    torch.testing.assert_close(lerp(a, b, T)[5], (a + b) / 2)


def test_slerp_keeps_the_norm_between_equal_norm_points() -> None:
    a, b = _pair()
    b = b * a.norm() / b.norm()
    norms = slerp(a, b, T).norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, a.norm().item()))
    assert lerp(a, b, T).norm(dim=1)[5] < 0.9 * a.norm()  # the straight line cuts inside


def test_slerp_moves_at_constant_angular_speed() -> None:
    a, b = _pair(d=5, seed=3)
    z = slerp(a, b * a.norm() / b.norm(), T)
    cos = torch.nn.functional.cosine_similarity(z[:-1], z[1:], dim=1)
    torch.testing.assert_close(cos, torch.full_like(cos, cos[0].item()))


def test_slerp_of_parallel_vectors_falls_back_to_lerp() -> None:
    a = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
    for b in (a.clone(), 3 * a, -2 * a):
        z = slerp(a, b, T)
        assert torch.isfinite(z).all()
        torch.testing.assert_close(z, lerp(a, b, T))
    assert torch.isfinite(slerp(torch.zeros(3), torch.ones(3), T)).all()


def test_interpolate_dispatches_by_name() -> None:
    a, b = _pair()
    torch.testing.assert_close(interpolate(a, b, T, "lerp"), lerp(a, b, T))
    torch.testing.assert_close(interpolate(a, b, T, "slerp"), slerp(a, b, T))
    with pytest.raises(ValueError, match="lerp"):
        interpolate(a, b, T, "cubic")


def test_quantile_grid_holds_normal_quantiles_in_plot_order() -> None:
    n = 7
    grid = prior_quantile_grid(n)
    assert grid.shape == (n, n, 2)
    u = (torch.arange(n) + 0.5) / n
    q = torch.distributions.Normal(0.0, 1.0).icdf(u)
    torch.testing.assert_close(grid[0, :, 0], q)  # z1 grows to the right
    torch.testing.assert_close(grid[:, 0, 1], q.flip(0))  # z2 grows upwards
    torch.testing.assert_close(grid[n // 2, n // 2], torch.zeros(2), atol=1e-6, rtol=0)
    cdf = torch.distributions.Normal(0.0, 1.0).cdf(grid[0, :, 0].double())
    torch.testing.assert_close(cdf, u.double(), atol=1e-6, rtol=0)  # equal mass per cell
    with pytest.raises(ValueError):
        prior_quantile_grid(0)


def test_even_grid_has_an_exact_zero_and_the_quantile_grid_layout() -> None:
    grid = even_grid(15, 3.0)
    axis = grid[0, :, 0]
    assert axis[7].item() == 0.0 and not torch.signbit(axis[7])  # prints +0.00 on every CPU
    assert torch.equal(axis, -axis.flip(0))  # exactly symmetric
    torch.testing.assert_close(axis, torch.linspace(-3, 3, 15), atol=1e-6, rtol=0)
    torch.testing.assert_close(grid[:, 0, 1], axis.flip(0))  # z2 grows upwards
    axis20 = even_grid(20, 3.0)[0, :, 0]
    assert torch.equal(axis20, -axis20.flip(0)) and axis20[0] == -3 and axis20[-1] == 3
    with pytest.raises(ValueError):
        even_grid(1)


def test_quantile_cell_shares_counts_codes_in_the_grid_layout() -> None:
    n = 4
    centres = prior_quantile_grid(n).reshape(-1, 2)  # one code at each cell's centre
    torch.testing.assert_close(quantile_cell_shares(centres, n), torch.full((n, n), 1 / n**2))
    one = quantile_cell_shares(torch.tensor([[-2.0, 2.0]]), n)  # smallest z1, largest z2
    assert one[0, 0] == 1 and one.sum() == 1
    far = quantile_cell_shares(torch.tensor([[40.0, -40.0], [0.1, 0.1]]), n)
    assert far[n - 1, n - 1] == 0.5 and far[1, 2] == 0.5  # far out: the outermost cell
    z = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0))
    shares = quantile_cell_shares(z, 10)  # the prior fills every cell equally
    assert shares.shape == (10, 10)
    torch.testing.assert_close(shares.sum(), torch.tensor(1.0))
    assert (shares - 0.01).abs().max() < 0.0015
    with pytest.raises(ValueError):
        quantile_cell_shares(torch.zeros(5, 3), n)


def test_norm_quantile_matches_torch() -> None:
    u = torch.tensor([1e-4, 0.025, 0.5, 0.9, 0.9999], dtype=torch.float64)
    torch.testing.assert_close(norm_quantile(u), torch.distributions.Normal(0.0, 1.0).icdf(u))


def test_prior_log_density_is_the_standard_normal() -> None:
    z = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    want = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(prior_log_density(z), want)


def test_aggregate_posterior_is_the_mixture_of_posteriors() -> None:
    g = torch.Generator().manual_seed(0)
    means, log_vars = torch.randn(30, 2, generator=g), torch.randn(30, 2, generator=g) * 0.3
    z = torch.randn(17, 2, generator=g)
    components = torch.distributions.Independent(
        torch.distributions.Normal(means, torch.exp(0.5 * log_vars)), 1
    )
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(30)), components
    )
    got = aggregate_posterior_log_density(z, means, log_vars, batch_size=5)
    torch.testing.assert_close(got, mixture.log_prob(z))
    # posteriors equal to the prior make q(z) = p(z)
    zeros = torch.zeros(30, 2)
    torch.testing.assert_close(aggregate_posterior_log_density(z, zeros, zeros),
                               prior_log_density(z))


def test_principal_directions_are_orthonormal_and_sorted() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 5, generator=g) * torch.tensor([3.0, 2.0, 1.0, 0.5, 0.1]) + 1.0
    centre, directions, stds = principal_directions(x, 3)
    torch.testing.assert_close(centre, x.mean(0))
    torch.testing.assert_close(directions @ directions.T, torch.eye(3), atol=1e-5, rtol=0)
    assert (stds[:-1] > stds[1:]).all()
    torch.testing.assert_close(stds, torch.tensor([3.0, 2.0, 1.0]), rtol=0.06, atol=0)
    torch.testing.assert_close(directions.abs(), torch.eye(5)[:3], atol=0.05, rtol=0)
    assert (directions.gather(1, directions.abs().argmax(1, keepdim=True)) > 0).all()


def test_encode_and_decode_means_match_the_model() -> None:
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden_dims=(16,))).eval()
    images = torch.randint(0, 256, (7, 28, 28), dtype=torch.uint8)
    means, log_vars = encode_means(model, images, batch_size=3)
    with torch.no_grad():
        want_mean, want_log_var = model.encode(images.reshape(7, -1).float() / 255)
        torch.testing.assert_close(means, want_mean)
        torch.testing.assert_close(log_vars, want_log_var)
        torch.testing.assert_close(decode_means(model, means), torch.sigmoid(model.decode(means)))
    assert math.isclose(decode_means(model, means[0]).shape[0], 1)


def test_code_use_scores_a_posterior_and_a_prior_draw_and_spares_the_global_stream() -> None:
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden_dims=(16,))).eval()
    images = torch.randint(0, 256, (7, 28, 28), dtype=torch.uint8)
    state = torch.get_rng_state()
    use = code_use(model, images, seed=5, batch_size=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert use == code_use(model, images, seed=5, batch_size=3)
    # by hand, in the same order: the static test binarization, then q and prior noise per batch
    g = torch.Generator().manual_seed(5)
    x_all = torch.cat(list(Batches(images, batch_size=3, shuffle=False, binarize="static",
                                   seed=TEST_BINARIZATION_SEED)))  # fmt: skip
    want = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        for x in x_all.split(3):
            mean, log_var = model.encode(x)
            eps = torch.randn((2, *mean.shape), generator=g)
            for i, z in enumerate((mean + torch.exp(0.5 * log_var) * eps[0], eps[1])):
                want[i] -= bernoulli_log_likelihood(model.decode(z), x).double().sum()
    assert math.isclose(use.posterior, want[0].item() / 7, rel_tol=1e-9)
    assert math.isclose(use.prior, want[1].item() / 7, rel_tol=1e-9)
    assert math.isclose(use.gain, use.prior - use.posterior)


def test_code_use_gains_nothing_when_the_decoder_ignores_z() -> None:
    torch.manual_seed(0)
    model = build_model(VAEConfig(latent_dim=3, hidden_dims=(16,), autoregressive=True)).eval()
    with torch.no_grad():
        model.to_logits.weight.zero_()  # the decoder's output no longer depends on z
        model.autoregression.weight.normal_()
    images = torch.randint(0, 256, (6, 28, 28), dtype=torch.uint8)
    use = code_use(model, images)
    assert use.gain == 0.0
    assert use.posterior > 0


def test_code_use_refuses_a_conditional_model() -> None:
    model = build_model(VAEConfig(latent_dim=3, hidden_dims=(16,), n_classes=10))
    with pytest.raises(ValueError, match="unconditional"):
        code_use(model, torch.zeros(2, 28, 28, dtype=torch.uint8))


def test_a_traversal_varies_one_unit_and_holds_the_others() -> None:
    from vae_tutorial.latent import decode_means, traversal
    from vae_tutorial.model import VAE, VAEConfig

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden_dims=(16,))).eval()
    z = torch.tensor([0.5, -1.0, 0.2, 2.0])
    values = torch.linspace(-3, 3, 5)
    grid = traversal(model, z, [2, 0], values)
    assert grid.shape == (2, 5, 784)
    want = z.repeat(5, 1)
    want[:, 0] = values
    torch.testing.assert_close(grid[1], decode_means(model, want))
