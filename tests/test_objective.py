"""The objective: the plain negative ELBO by default (bit for bit), β, KL warm-up, free bits and
the importance-weighted bound."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vae_tutorial.autoregressive import AutoregressiveVAE
from vae_tutorial.data import Batch, Batches
from vae_tutorial.evaluate import log_importance_weights
from vae_tutorial.losses import gaussian_kl, log_mean_exp, negative_elbo
from vae_tutorial.model import VAE, ConditionalVAE, VAEConfig
from vae_tutorial.objective import Objective, free_bits_kl, objective_loss
from vae_tutorial.train import TrainConfig, load_checkpoint, train, train_epoch

SMALL = VAEConfig(latent_dim=4, hidden_dims=(32,))


def _model(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(SMALL)


def test_the_default_objective_is_the_old_loss_bit_for_bit() -> None:
    """model.loss(x) as it was: negative_elbo of one forward pass, same values, same gradients."""
    x = torch.bernoulli(torch.rand(16, 784, generator=torch.Generator().manual_seed(0)))
    old, new = _model(), _model()
    torch.manual_seed(1)
    logits, mean, log_var = old(x)
    expected = negative_elbo(logits, x, mean, log_var)
    expected.loss.backward()
    for call in (lambda: new.loss(x), lambda: new.loss(Batch(x), 1.0, 0.0)):
        new.zero_grad()
        torch.manual_seed(1)
        out = call()
        out.loss.backward()
        for a, b in zip(expected, out, strict=True):
            assert torch.equal(a, b)
        for (name, p), q in zip(old.named_parameters(), new.parameters(), strict=True):
            assert torch.equal(p.grad, q.grad), name


def _old_train_epoch(model: VAE, batches: Batches, optimizer: torch.optim.Optimizer) -> list:
    """train_epoch as it was before objectives: one step per batch on model.loss(x).loss."""
    totals = torch.zeros(3, dtype=torch.float64)
    for x in batches:
        out = model.loss(x)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        totals += torch.stack([out.loss, out.reconstruction, out.kl]).detach().double() * len(x)
    return (totals / len(batches.images)).tolist()


def test_train_epoch_with_the_default_objective_matches_the_old_loop(small_mnist) -> None:
    runs = []
    for new in (False, True):
        model = _model()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        batches = Batches(small_mnist.train_images, small_mnist.train_labels, batch_size=64,
                          binarize="dynamic", with_labels=new)  # fmt: skip
        torch.manual_seed(5)
        if new:
            losses = list(train_epoch(model, batches, optimizer))
            assert losses[3] == losses[0], "the default objective is the negative ELBO"
            losses = losses[:3]
        else:
            losses = _old_train_epoch(model, batches, optimizer)
        runs.append((losses, [p.detach().clone() for p in model.parameters()]))
    (old_losses, old_params), (new_losses, new_params) = runs
    assert new_losses == old_losses
    assert all(torch.equal(a, b) for a, b in zip(old_params, new_params, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"beta": -1.0}, ValueError, "beta must be a finite number >= 0"),
        ({"beta": float("nan")}, ValueError, "beta"),
        ({"beta": "2"}, TypeError, "beta must be a number"),
        ({"kl_warmup_epochs": -1}, ValueError, "kl_warmup_epochs must be an integer >= 0"),
        ({"kl_warmup_epochs": 1.5}, ValueError, "kl_warmup_epochs"),
        ({"free_bits": -0.1}, ValueError, "free_bits must be a finite number of nats >= 0"),
        ({"free_bits": float("inf")}, ValueError, "free_bits"),
        ({"importance_samples": 0}, ValueError, "importance_samples must be an integer >= 1"),
        ({"importance_samples": 2.0}, ValueError, "importance_samples"),
        ({"importance_samples": True}, ValueError, "importance_samples"),
        ({"importance_samples": 5, "beta": 2.0}, ValueError, "no separate KL term"),
        ({"importance_samples": 5, "kl_warmup_epochs": 1}, ValueError, "keep beta=1"),
        ({"importance_samples": 5, "free_bits": 0.1}, ValueError, "importance_samples=1"),
    ],
)
def test_bad_objectives_are_rejected(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Objective(**kwargs)


def test_the_objective_is_part_of_the_training_configuration() -> None:
    objective = Objective(beta=4, kl_warmup_epochs=2, free_bits=0.25)
    assert objective.beta == 4.0 and isinstance(objective.beta, float)
    config = TrainConfig(epochs=5, objective=objective)
    from dataclasses import asdict

    assert asdict(config)["objective"] == {
        "beta": 4.0, "kl_warmup_epochs": 2, "free_bits": 0.25, "importance_samples": 1,
    }  # fmt: skip
    assert TrainConfig.from_dict(asdict(config)) == config
    old = {k: v for k, v in asdict(TrainConfig()).items() if k != "objective"}
    assert TrainConfig.from_dict(old) == TrainConfig()  # before objectives: the plain -ELBO
    with pytest.raises(ValueError, match="never reach beta"):
        TrainConfig(epochs=1, objective=objective)
    with pytest.raises(TypeError, match="objective must be an Objective"):
        TrainConfig(objective={"beta": 2.0})  # type: ignore[arg-type]
    assert Objective().is_elbo and Objective().describe() == "-ELBO"
    assert objective.describe() == (
        "rec + 4 * sum_j max(0.25, KL_j), weight rising from 0 over 2 epochs"
    )


def test_kl_weight_rises_linearly_step_by_step_then_stays_at_beta() -> None:
    warm = Objective(beta=2.0, kl_warmup_epochs=2)
    weights = [warm.kl_weight(step, steps_per_epoch=4) for step in range(10)]
    assert weights == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.0]
    assert [Objective(beta=0.5).kl_weight(s, 3) for s in (0, 1, 100)] == [0.5, 0.5, 0.5]
    assert Objective().kl_weight(0, 1) == 1.0
    with pytest.raises(ValueError, match="steps_per_epoch"):
        warm.kl_weight(0, 0)


def _posterior() -> tuple[torch.Tensor, torch.Tensor]:
    """Two examples, three latent dimensions with batch-mean KLs of 0.01, 0.5 and about 2.18."""
    mean = torch.tensor([[0.2, 1.0, 2.0], [0.0, 1.0, 2.0]], requires_grad=True)
    log_var = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]], requires_grad=True)
    return mean, log_var


def test_free_bits_clamp_each_dimension_on_its_batch_average() -> None:
    mean, log_var = _posterior()
    per_dimension = gaussian_kl(mean.unsqueeze(-1), log_var.unsqueeze(-1)).mean(0)
    torch.testing.assert_close(per_dimension.sum(), gaussian_kl(mean, log_var).mean())
    assert per_dimension[0] < 0.1 < 0.3 < per_dimension[1] < 1.0 < per_dimension[2]
    value = free_bits_kl(mean, log_var, free_bits=1.0)
    torch.testing.assert_close(value, 1.0 + 1.0 + per_dimension[2])
    value.backward()
    # below λ a dimension costs the constant λ: no gradient; above it, the KL's gradient
    assert torch.equal(mean.grad[:, :2], torch.zeros(2, 2))
    assert torch.equal(log_var.grad[:, :2], torch.zeros(2, 2))
    torch.testing.assert_close(mean.grad[:, 2], mean.detach()[:, 2] / 2)  # d(mu^2/2)/dmu / B
    assert (log_var.grad[:, 2] != 0).all()
    # λ = 0 is the plain KL (up to summation order)
    torch.testing.assert_close(free_bits_kl(mean, log_var, 0.0), gaussian_kl(mean, log_var).mean())


def test_the_objective_changes_the_loss_and_reports_the_true_terms() -> None:
    mean, log_var = _posterior()
    logits = torch.zeros(2, 784)
    x = torch.ones(2, 784)
    elbo = negative_elbo(logits, x, mean, log_var)
    out = objective_loss(elbo, mean, log_var, kl_weight=3.0, free_bits=1.0)
    assert out.reconstruction is elbo.reconstruction and out.kl is elbo.kl
    torch.testing.assert_close(
        out.loss, elbo.reconstruction + 3.0 * free_bits_kl(mean, log_var, 1.0)
    )
    torch.testing.assert_close(
        objective_loss(elbo, mean, log_var, kl_weight=0.0).loss, elbo.reconstruction
    )


def test_train_passes_the_scheduled_weight_and_logs_the_negative_elbo(small_mnist) -> None:
    model, seen = _model(), []
    original = model.loss

    def spy(batch, kl_weight=1.0, free_bits=0.0, importance_samples=1):
        if model.training:
            seen.append((kl_weight, free_bits))
        assert importance_samples == 1
        return original(batch, kl_weight, free_bits)

    model.loss = spy  # type: ignore[method-assign]
    objective = Objective(beta=2.0, kl_warmup_epochs=1, free_bits=0.1)
    history = train(model, small_mnist, TrainConfig(epochs=2, batch_size=128, objective=objective),
                    progress=False, log=None)  # fmt: skip
    steps = -(-len(small_mnist.train_images) // 128)  # the last batch is partial
    assert [w for w, _ in seen] == [2.0 * s / steps for s in range(steps)] + [2.0] * steps
    assert {f for _, f in seen} == {0.1}
    for loss, rec, kl, objective_value in zip(
        history.train_loss, history.train_reconstruction, history.train_kl,
        history.train_objective, strict=True,
    ):  # fmt: skip
        assert loss == pytest.approx(rec + kl, rel=1e-6)
        assert objective_value != loss


def test_a_warm_up_run_resumes_exactly(small_mnist, tmp_path: Path) -> None:
    """Interrupted halfway through the warm-up: the weights after resuming are the same."""
    config = TrainConfig(
        epochs=3, batch_size=64, objective=Objective(beta=4.0, kl_warmup_epochs=2, free_bits=0.05)
    )
    straight = _model()
    expected = train(straight, small_mnist, config, progress=False, log=None)

    class Interrupt(Exception):
        pass

    def stop(epoch: int, model: VAE, history: object) -> None:
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_model(), small_mnist, config, checkpoint=tmp_path / "run.pt", progress=False,
              log=None, on_epoch_end=stop)  # fmt: skip
    assert load_checkpoint(tmp_path / "run.pt")["train_config"]["objective"] == {
        "beta": 4.0, "kl_warmup_epochs": 2, "free_bits": 0.05, "importance_samples": 1,
    }  # fmt: skip
    resumed = _model(seed=99)
    history = train(resumed, small_mnist, config, checkpoint=tmp_path / "run.pt", resume=True,
                    progress=False, log=None)  # fmt: skip
    assert history.train_objective == expected.train_objective
    assert history.validation_loss == expected.validation_loss
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_importance_samples_train_the_importance_weighted_bound() -> None:
    """k > 1: loss = -mean_b log (1/k) sum_i w_ib, the weights of evaluate's L_k on the same draws;
    reconstruction and KL stay the negative ELBO's terms, estimated over the k draws."""
    x = torch.bernoulli(torch.rand(8, 784, generator=torch.Generator().manual_seed(0)))
    model = _model()
    torch.manual_seed(3)
    out = model.loss(x, importance_samples=5)
    torch.manual_seed(3)
    log_w = log_importance_weights(model, x, 5)  # (5, 8), the same noise from the same seed
    torch.testing.assert_close(out.loss, -log_mean_exp(log_w).mean(), atol=1e-4, rtol=0)
    assert out.loss < -log_w.mean()  # Jensen, on these very draws: L_k >= mean of log w
    torch.manual_seed(3)
    z, mean, log_var = model.posterior_sample(x, samples=5)
    assert z.shape == (5, 8, 4)
    expected = negative_elbo(model.decode(z), x.expand(5, 8, 784), mean, log_var)
    torch.testing.assert_close(out.reconstruction, expected.reconstruction)
    torch.testing.assert_close(out.kl, gaussian_kl(mean, log_var).mean())
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert Objective(importance_samples=5).describe() == "-L_5 (importance-weighted bound)"
    assert not Objective(importance_samples=5).is_elbo


@pytest.mark.parametrize("kind", ["conditional", "autoregressive", "conv"])
def test_every_model_takes_importance_samples(kind: str) -> None:
    torch.manual_seed(0)
    x = torch.bernoulli(torch.rand(6, 784))
    if kind == "conditional":
        model: VAE = ConditionalVAE(VAEConfig(latent_dim=3, hidden_dims=(16,), n_classes=10))
    elif kind == "autoregressive":
        model = AutoregressiveVAE(VAEConfig(latent_dim=3, hidden_dims=(16,), autoregressive=True))
    else:
        model = VAE(VAEConfig(latent_dim=3, hidden_dims=(4, 8), architecture="conv"))
    batch = Batch(x, y=torch.arange(6) % 10)
    torch.manual_seed(1)
    out = model.loss(batch, importance_samples=4)
    torch.manual_seed(1)
    log_w = log_importance_weights(model, x, 4, y=batch.y)
    torch.testing.assert_close(out.loss, -log_mean_exp(log_w).mean(), atol=1e-4, rtol=0)


def test_train_minimizes_the_importance_weighted_bound(small_mnist) -> None:
    model, seen = _model(), []
    original = model.loss

    def spy(batch, kl_weight=1.0, free_bits=0.0, importance_samples=1):
        seen.append(importance_samples)
        return original(batch, kl_weight, free_bits, importance_samples)

    model.loss = spy  # type: ignore[method-assign]
    config = TrainConfig(epochs=1, batch_size=128, objective=Objective(importance_samples=3))
    history = train(model, small_mnist, config, progress=False, log=None)
    steps = -(-len(small_mnist.train_images) // 128)  # the last batch is partial
    assert seen[:steps] == [3] * steps  # every training step; the test ELBO calls loss(batch)
    # -L_3 lies below the negative ELBO, on average over the epoch's batches
    assert history.train_objective[0] < history.train_loss[0]
