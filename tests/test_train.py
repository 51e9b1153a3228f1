"""Training: the loss goes down, resume is exact, NaN stops it, saves are atomic."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.objective import Objective
from vae_tutorial.train import (
    CheckpointError,
    EpochLosses,
    History,
    TrainConfig,
    TrainingDiverged,
    _append_epoch,
    _batches,
    _check_resumable,
    _checkpoint_state,
    _epoch_line,
    _log_epoch,
    _progress_bar,
    _resume,
    _scheduler,
    _stopped,
    load_checkpoint,
    load_model,
    save_checkpoint,
    save_model,
    train,
)

SMALL = VAEConfig(latent_dim=4, hidden_dims=(64,))


def _model(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(SMALL)


class _Interrupt(Exception):
    """Raised by an epoch hook to stop a run after its first epoch, as a crash would."""


def _stop_after_first_epoch(epoch: int, model: VAE, history: object) -> None:
    if epoch == 1:
        raise _Interrupt


def _interrupt_then_resume(make_model, data, config: TrainConfig, path: Path) -> tuple:
    """Train ``make_model()`` into ``path`` until an exception stops it after epoch 1, then
    resume ``make_model(seed=99)`` from the checkpoint to the end: ``(history, resumed model)``."""
    with pytest.raises(_Interrupt):
        train(make_model(), data, config, checkpoint=path, progress=False, log=None,
              on_epoch_end=_stop_after_first_epoch)  # fmt: skip
    resumed = make_model(seed=99)
    history = train(resumed, data, config, checkpoint=path, resume=True, progress=False,
                    log=None)  # fmt: skip
    return history, resumed


def _assert_same_weights(a: VAE, b: VAE) -> None:
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_the_loss_goes_down(small_mnist) -> None:
    history = train(
        _model(), small_mnist, TrainConfig(epochs=5, batch_size=64), progress=False, log=None
    )
    assert history.epochs == 5
    assert history.train_loss[-1] < history.train_loss[0] - 50
    assert history.validation_loss[-1] < history.validation_loss[0]
    for loss, rec, kl in zip(
        history.validation_loss,
        history.validation_reconstruction,
        history.validation_kl,
        strict=True,
    ):
        assert loss == pytest.approx(rec + kl, rel=1e-6)


def test_resume_equals_an_uninterrupted_run(small_mnist, tmp_path: Path) -> None:
    config = TrainConfig(epochs=3, batch_size=64, lr_schedule="cosine")
    straight = _model()
    expected = train(
        straight, small_mnist, config, checkpoint=tmp_path / "a.pt", progress=False, log=None
    )

    class Interrupt(Exception):
        pass

    def stop_after_first_epoch(line: str) -> None:
        if line.startswith("epoch   1/"):
            raise Interrupt

    with pytest.raises(Interrupt):
        train(
            _model(),
            small_mnist,
            config,
            checkpoint=tmp_path / "b.pt",
            progress=False,
            log=stop_after_first_epoch,
        )
    assert load_checkpoint(tmp_path / "b.pt")["history"]["train_loss"] == expected.train_loss[:1]
    resumed = _model(seed=99)  # different initial weights: everything must come from the checkpoint
    history = train(
        resumed,
        small_mnist,
        config,
        checkpoint=tmp_path / "b.pt",
        resume=True,
        progress=False,
        log=None,
    )
    assert history.validation_loss == expected.validation_loss
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_resume_rejects_another_model_or_run(small_mnist, tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    train(
        _model(),
        small_mnist,
        TrainConfig(epochs=1, batch_size=64),
        checkpoint=path,
        progress=False,
        log=None,
    )
    with pytest.raises(CheckpointError, match=r"784-64-4 relu MLP.*784-64-8 relu MLP"):
        other = VAE(VAEConfig(latent_dim=8, hidden_dims=(64,)))
        train(other, small_mnist, TrainConfig(epochs=2, batch_size=64),
              checkpoint=path, resume=True, progress=False, log=None)  # fmt: skip
    with pytest.raises(CheckpointError, match="trained with"):
        train(_model(), small_mnist, TrainConfig(epochs=2, batch_size=32), checkpoint=path,
              resume=True,
              progress=False, log=None)  # fmt: skip


def test_nan_stops_training_with_a_diagnosis(
    small_mnist, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Diverging in epoch 1: nothing was saved, and the message must not name a missing file."""
    model = _model()
    original = model.decode
    monkeypatch.setattr(model, "decode", lambda z: original(z) * float("nan"))
    with pytest.raises(
        TrainingDiverged,
        match=r"stopped at epoch 1, batch 1: the loss became nan.*learning rate.*"
        r"No checkpoint was written",
    ):
        train(model, small_mnist, TrainConfig(epochs=1, batch_size=64),
              checkpoint=tmp_path / "run.pt", progress=False, log=None)  # fmt: skip
    assert not (tmp_path / "run.pt").exists()


def test_nan_after_a_saved_epoch_names_the_checkpoint(small_mnist, tmp_path: Path) -> None:
    def poison_after_epoch_1(epoch: int, model: VAE, history: object) -> None:
        if epoch == 1:
            with torch.no_grad():
                model.to_logits.bias.fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"epoch 2, .*checkpoint \(epoch 1\) is .*run\.pt"):
        train(_model(), small_mnist, TrainConfig(epochs=2, batch_size=64),
              checkpoint=tmp_path / "run.pt", progress=False, log=None,
              on_epoch_end=poison_after_epoch_1)  # fmt: skip
    assert len(load_checkpoint(tmp_path / "run.pt")["history"]["train_loss"]) == 1


def test_one_progress_bar_for_the_run_and_log_lines_intact(
    small_mnist, capsys: pytest.CaptureFixture[str]
) -> None:
    train(_model(), small_mnist, TrainConfig(epochs=2, batch_size=64), progress=True, log=print)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch   1/2", "epoch   2/2"]
    line = re.compile(r"train +\d+\.\d\d  validation +\d+\.\d\d = rec .* \+ KL ")
    assert all(line.search(x) for x in lines)
    final = err.replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("epoch 2/2: 100%") and "img/s" in final
    assert re.search(r", validation \d+\.\d\d\]$", final), final  # the last validation -ELBO


def test_nan_from_an_exploding_learning_rate_is_caught(small_mnist) -> None:
    with pytest.raises(TrainingDiverged, match="Likely cause"):
        train(
            _model(),
            small_mnist,
            TrainConfig(epochs=3, batch_size=64, learning_rate=1e4),
            progress=False,
            log=None,
        )


def test_atomic_save_survives_a_crash_mid_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(
        path, {"model_config": SMALL.to_dict(), "model": _model().state_dict(), "epoch": 1}
    )
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkpoi")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(
            path, {"model_config": SMALL.to_dict(), "model": _model(1).state_dict(), "epoch": 2}
        )
    assert path.read_bytes() == before, "the previous checkpoint must be untouched"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"], (
        "no temporary file may be left behind"
    )
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_load_without_running_code(tmp_path: Path) -> None:
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"format": "vae_tutorial.checkpoint/1", "x": Payload()}, f)
    with pytest.raises(CheckpointError, match="not a readable vae_tutorial checkpoint"):
        load_checkpoint(path)


def test_load_model_names_both_configurations(small_mnist, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    model = _model()
    train(
        model,
        small_mnist,
        TrainConfig(epochs=1, batch_size=64),
        checkpoint=path,
        progress=False,
        log=None,
    )
    loaded = load_model(path)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    with pytest.raises(
        CheckpointError, match=r"checkpoint is 784-64-4 relu MLP.*requested model is 784-64-20"
    ):
        load_model(path, config=VAEConfig(latent_dim=20, hidden_dims=(64,)))
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model(tmp_path / "text.pt")


def test_epoch_hook_and_extending_a_constant_schedule(small_mnist, tmp_path: Path) -> None:
    path, seen = tmp_path / "run.pt", []
    config = TrainConfig(epochs=1, batch_size=64)
    train(_model(), small_mnist, config, checkpoint=path, progress=False, log=None)
    model = _model()

    def hook(epoch: int, m: VAE, history) -> None:
        seen.append((epoch, history.epochs, m is model))

    longer = TrainConfig(epochs=3, batch_size=64)
    history = train(
        model,
        small_mnist,
        longer,
        checkpoint=path,
        resume=True,
        progress=False,
        log=None,
        on_epoch_end=hook,
    )
    assert history.epochs == 3 and seen == [(2, 2, True), (3, 3, True)]

    cosine = tmp_path / "cosine.pt"
    short = TrainConfig(epochs=1, batch_size=64, lr_schedule="cosine")
    train(_model(), small_mnist, short, checkpoint=cosine, progress=False, log=None)
    with pytest.raises(CheckpointError, match="cannot be extended"):
        train(
            _model(),
            small_mnist,
            replace(short, epochs=2),
            checkpoint=cosine,
            resume=True,
            progress=False,
            log=None,
        )


def test_reference_checkpoints_are_found_in_the_checkout() -> None:
    from vae_tutorial.train import reference_checkpoint

    path = reference_checkpoint("mnist_latent2")
    assert path.is_file() and path.with_suffix(".json").is_file()
    assert load_model(path).config == VAEConfig(latent_dim=2, hidden_dims=(256,))
    with pytest.raises(CheckpointError, match="not found"):
        reference_checkpoint("no_such_model")


CONDITIONAL = VAEConfig(latent_dim=2, hidden_dims=(64,), n_classes=10)


def _conditional(seed: int = 0) -> VAE:
    from vae_tutorial.variants import build_model

    torch.manual_seed(seed)
    return build_model(CONDITIONAL)


def test_the_same_train_trains_a_conditional_vae_and_it_resumes_exactly(
    small_mnist, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=3, batch_size=64, objective=Objective(kl_warmup_epochs=1))
    straight = _conditional()
    expected = train(straight, small_mnist, config, progress=False, log=None)
    assert expected.train_loss[-1] < expected.train_loss[0]

    path = tmp_path / "cvae.pt"
    history, resumed = _interrupt_then_resume(_conditional, small_mnist, config, path)
    assert load_checkpoint(path)["model_config"]["n_classes"] == 10
    assert history.validation_loss == expected.validation_loss
    _assert_same_weights(straight, resumed)
    loaded = load_model(path)
    assert type(loaded).__name__ == "ConditionalVAE" and loaded.config == CONDITIONAL
    # an unconditional model cannot resume a conditional run
    with pytest.raises(CheckpointError, match="conditional on 10 classes.*784-64-2 relu MLP"):
        train(VAE(replace(CONDITIONAL, n_classes=0)), small_mnist, config, checkpoint=path,
              resume=True, progress=False, log=None)  # fmt: skip


def test_any_28x28_uint8_data_set_trains_with_or_without_labels(small_mnist) -> None:
    from vae_tutorial.data import ImageData

    g = torch.Generator().manual_seed(0)
    unlabelled = ImageData(
        train_images=torch.randint(0, 256, (200, 28, 28), dtype=torch.uint8, generator=g),
        train_labels=None,
        test_images=torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8, generator=g),
        test_labels=None,
        source="noise",
    )
    assert not unlabelled.has_labels and small_mnist.has_labels
    assert unlabelled.describe() == "noise: 200 training and 50 test images"
    history = train(_model(), unlabelled, TrainConfig(epochs=1, batch_size=64), progress=False,
                    log=None)  # fmt: skip
    assert history.epochs == 1
    with pytest.raises(ValueError, match="needs the labels y of its 64 images"):
        train(_conditional(), unlabelled, TrainConfig(epochs=1, batch_size=64), progress=False,
              log=None)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"train_images": torch.zeros(10, 28, 28)}, TypeError,
         r"train_images must be a uint8 tensor of shape \(N, 28, 28\).*torch.float32"),
        ({"test_images": torch.zeros(10, 32, 32, dtype=torch.uint8)}, TypeError,
         r"test_images must be a uint8 tensor.*\(10, 32, 32\)"),
        ({"train_images": torch.zeros(10, 784, dtype=torch.uint8)}, TypeError, "(N, 28, 28)"),
        ({"train_labels": torch.zeros(3, dtype=torch.int64)}, ValueError,
         "train_labels has 3 labels for 427 train images"),
        ({"test_labels": torch.zeros(256, dtype=torch.int32)}, TypeError,
         "test_labels must be None or an int64 tensor"),
        ({"train_labels": torch.full((427,), -1)}, ValueError, "class indices >= 0"),
        ({"train_images": [[0] * 28] * 28}, TypeError, "must be a torch.Tensor"),
    ],
)  # fmt: skip
def test_a_wrong_data_set_gets_a_clear_error(small_mnist, change, error, message) -> None:
    import dataclasses

    from vae_tutorial.data import ImageData

    fields = {f.name: getattr(small_mnist, f.name) for f in dataclasses.fields(small_mnist)}
    with pytest.raises(error, match=message):
        ImageData(**{**fields, **change, "source": "mine"})

    class Duck:  # train() checks whatever it is given, dataclass or not
        pass

    duck = Duck()
    duck.__dict__.update({**fields, **change})
    with pytest.raises(error, match=message):
        train(_model(), duck, TrainConfig(epochs=1), progress=False, log=None)


@pytest.mark.parametrize("name", ["mnist_latent2", "mnist_vae20", "burda_vae"])
def test_the_committed_reference_checkpoints_still_load(name: str) -> None:
    from vae_tutorial.train import reference_checkpoint

    path = reference_checkpoint(name)
    state = load_checkpoint(path)
    assert "n_classes" not in state["model_config"], "made before conditional models existed"
    assert "objective" not in state["train_config"]
    model = load_model(path)
    assert type(model) is VAE and model.config.n_classes == 0
    assert TrainConfig.from_dict(state["train_config"]).objective == Objective()
    x = torch.zeros(2, 784)
    assert torch.isfinite(model.loss(x).loss)


def _as_old_checkpoint(path: Path) -> None:
    """Rewrite a checkpoint as the code before objectives and conditional models wrote it."""
    state = load_checkpoint(path)
    state.pop("format")
    del state["train_config"]["objective"], state["model_config"]["n_classes"]
    del state["history"]["train_objective"]
    save_checkpoint(path, state)


def test_an_old_training_checkpoint_resumes_exactly(small_mnist, tmp_path: Path) -> None:
    config = TrainConfig(epochs=2, batch_size=64)
    straight = _model()
    expected = train(straight, small_mnist, config, progress=False, log=None)
    path = tmp_path / "old.pt"
    train(_model(), small_mnist, replace(config, epochs=1), checkpoint=path, progress=False,
          log=None)  # fmt: skip
    _as_old_checkpoint(path)
    state = load_checkpoint(path)
    assert sorted(state) == ["data_source", "extra", "format", "history", "model",
                             "model_config", "optimizer", "rng", "scheduler", "train_config"]
    assert "objective" not in state["train_config"]
    assert load_model(path).config == SMALL
    resumed = _model(seed=99)
    history = train(resumed, small_mnist, config, checkpoint=path, resume=True, progress=False,
                    log=None)  # fmt: skip
    assert history.train_loss == expected.train_loss
    assert history.validation_loss == expected.validation_loss
    assert history.train_objective == history.train_loss  # the old run minimized the -ELBO
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # resuming an old run with another objective is another run
    with pytest.raises(CheckpointError, match="trained with"):
        train(_model(), small_mnist, replace(config, objective=Objective(beta=2.0)),
              checkpoint=path, resume=True, progress=False, log=None)  # fmt: skip


def test_a_denoising_vae_trains_on_corrupted_inputs_and_clean_targets_and_resumes_exactly(
    small_mnist, tmp_path: Path
) -> None:
    from vae_tutorial.corruptions import Corruption

    corruption = (Corruption("gaussian", 0.5), Corruption("half"))
    config = TrainConfig(epochs=2, batch_size=64, corruption=corruption)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Spy(VAE):
        def loss(self, batch, kl_weight=1.0, free_bits=0.0, importance_samples=1):  # type: ignore[override]
            seen.append((batch.x, batch.target))
            return super().loss(batch, kl_weight, free_bits, importance_samples)

    torch.manual_seed(0)
    straight = Spy(SMALL)
    expected = train(straight, small_mnist, config, progress=False, log=None)
    x, target = seen[0]
    assert not torch.equal(x, target)  # the encoder reads the corrupted digit ...
    assert set(target.unique().tolist()) <= {0.0, 1.0}  # ... the likelihood the clean binary one
    assert x.shape == target.shape == (64, 784)

    path = tmp_path / "dvae.pt"
    history, resumed = _interrupt_then_resume(_model, small_mnist, config, path)
    stored = TrainConfig.from_dict(load_checkpoint(path)["train_config"])
    assert stored.corruption == corruption
    assert history.validation_loss == expected.validation_loss
    _assert_same_weights(straight, resumed)
    with pytest.raises(CheckpointError, match="corruption"):  # a plain run cannot resume it
        train(_model(), small_mnist, replace(config, corruption=()), checkpoint=path,
              resume=True, progress=False, log=None)  # fmt: skip


def test_a_convolutional_vae_trains_in_the_same_loop_and_resumes_exactly(
    small_mnist, tmp_path: Path
) -> None:
    conv = VAEConfig(latent_dim=2, hidden_dims=(4, 8), architecture="conv")

    def fresh(seed: int = 0) -> VAE:
        torch.manual_seed(seed)
        return VAE(conv)

    config = TrainConfig(epochs=2, batch_size=128, objective=Objective(free_bits=0.1))
    straight = fresh()
    expected = train(straight, small_mnist, config, progress=False, log=None)
    assert expected.train_loss[-1] < expected.train_loss[0]

    path = tmp_path / "conv.pt"
    history, resumed = _interrupt_then_resume(fresh, small_mnist, config, path)
    assert history.validation_loss == expected.validation_loss
    _assert_same_weights(straight, resumed)
    assert load_model(path).config == conv
    with pytest.raises(CheckpointError, match="conv 4-8 channels.*784-64-4 relu MLP"):
        train(_model(), small_mnist, config, checkpoint=path, resume=True, progress=False,
              log=None)  # fmt: skip


# The named steps of train(), each on its own.


def _one_epoch_history() -> History:
    history = History()
    _append_epoch(history, EpochLosses(101.0, 90.0, 11.0, 102.5), (99.0, 88.0, 11.0), 2.25)
    return history


def test_an_epoch_is_appended_to_the_history_in_its_fields() -> None:
    history = _one_epoch_history()
    assert history.to_dict() == {
        "train_loss": [101.0], "train_reconstruction": [90.0], "train_kl": [11.0],
        "train_objective": [102.5], "validation_loss": [99.0], "validation_reconstruction": [88.0],
        "validation_kl": [11.0], "seconds": [2.25],
    }  # fmt: skip
    _append_epoch(history, EpochLosses(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0), 8.0)
    assert history.epochs == 2 and history.validation_kl == [11.0, 7.0]


def test_the_epoch_line_and_the_first_epoch_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    import vae_tutorial.train as training

    history = _one_epoch_history()
    line = "epoch   1/10: train 101.00  validation  99.00 = rec  88.00 + KL 11.00  (2.2 s)"
    assert _epoch_line(history, 10) == line
    monkeypatch.setattr(training, "_first_epoch_findings", lambda model, batches: ["a ReLU"])
    logged: list[str] = []
    _log_epoch(logged.append, history, 10, _model(), None)  # type: ignore[arg-type]
    assert logged == [line, "warning: a ReLU"]
    _append_epoch(history, EpochLosses(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0), 8.0)
    logged.clear()
    _log_epoch(logged.append, history, 10, _model(), None)  # type: ignore[arg-type]
    expected = "epoch   2/10: train   1.00  validation   5.00 = rec   6.00 + KL  7.00  (8.0 s)"
    assert logged == [expected]


def test_a_stopped_run_says_what_was_saved() -> None:
    error = TrainingDiverged("batch 3: the loss became nan")
    assert str(_stopped(error, 0, None)) == f"Training stopped at epoch 1, {error}"
    assert str(_stopped(error, 0, "run.pt")).endswith(
        " No checkpoint was written: the first epoch never finished."
    )
    assert str(_stopped(error, 4, "run.pt")).startswith("Training stopped at epoch 5, batch 3")
    assert str(_stopped(error, 4, "run.pt")).endswith(
        " The last good checkpoint (epoch 4) is run.pt."
    )


def test_a_stored_run_is_checked_against_this_one() -> None:
    from dataclasses import asdict

    config = TrainConfig(epochs=2, batch_size=64)
    state = {"model_config": SMALL.to_dict(), "train_config": asdict(config), "data_source": "d"}
    _check_resumable("run.pt", state, SMALL, replace(config, epochs=5), "d")  # more epochs: fine
    other = VAEConfig(latent_dim=8, hidden_dims=(64,))
    with pytest.raises(CheckpointError, match=r"holds a 784-64-4 .*this model is a 784-64-8"):
        _check_resumable("run.pt", state, other, config, "d")
    with pytest.raises(CheckpointError, match="run.pt was trained with .*Resume with the same"):
        _check_resumable("run.pt", state, SMALL, replace(config, learning_rate=0.1), "d")
    with pytest.raises(CheckpointError, match="trained on 'd' data, this run has 'e'"):
        _check_resumable("run.pt", state, SMALL, config, "e")
    cosine = replace(config, lr_schedule="cosine")
    state["train_config"] = asdict(cosine)
    with pytest.raises(CheckpointError, match="cosine schedule planned for 2 epochs.*to 3"):
        _check_resumable("run.pt", state, SMALL, replace(cosine, epochs=3), "d")
    with pytest.raises(ValueError, match="resume=True needs a checkpoint path"):
        _resume(None, _model(), config, "d", None, None, None)  # type: ignore[arg-type]


def test_the_checkpoint_state_and_the_schedule(small_mnist) -> None:
    model = _model()
    config = TrainConfig(epochs=3, batch_size=64)
    train_batches, test_batches = _batches(small_mnist, config, torch.device("cpu"))
    assert len(train_batches) == -(-len(small_mnist.train_images) // 64)
    assert train_batches.shuffle and train_batches.binarize == "dynamic"
    assert test_batches.batch_size == 1000 and not test_batches.shuffle
    assert test_batches.binarize == "static"
    _, unbinarized = _batches(small_mnist, replace(config, binarize="none"), torch.device("cpu"))
    assert unbinarized.binarize == "none"
    optimizer = torch.optim.Adam(model.parameters())
    assert _scheduler(optimizer, config, len(train_batches)) is None
    cosine = _scheduler(optimizer, replace(config, lr_schedule="cosine"), len(train_batches))
    assert isinstance(cosine, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert cosine.T_max == 3 * len(train_batches)  # epochs x steps
    state = _checkpoint_state(model, config, small_mnist.source, optimizer, None, History(),
                              train_batches, None)  # fmt: skip
    assert list(state) == ["model_config", "train_config", "data_source", "model", "optimizer",
                           "scheduler", "history", "rng", "extra"]  # fmt: skip
    assert state["scheduler"] is None and state["extra"] == {}
    assert TrainConfig.from_dict(state["train_config"]) == config
    assert state["data_source"] == small_mnist.source


def test_the_progress_bar_counts_images_of_the_whole_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bar = _progress_bar(epochs=3, done=1, n_train=100, progress=True)
    assert (bar.total, bar.n, bar.desc) == (300, 100, "epoch 2/3")
    bar.close()
    finished = _progress_bar(epochs=3, done=3, n_train=100, progress=False)
    assert finished.disable and finished.n == 300
    finished.close()


def test_a_loss_override_without_importance_samples_gets_a_clear_error(small_mnist) -> None:
    class OldStyle(VAE):
        def loss(self, batch, kl_weight=1.0, free_bits=0.0):  # type: ignore[override]
            return super().loss(batch, kl_weight, free_bits)

    with pytest.raises(TypeError, match=r"OldStyle\.loss.*importance_samples=1"):
        train(OldStyle(VAEConfig()), small_mnist, TrainConfig(epochs=1), progress=False, log=None)


def test_save_model_writes_what_load_model_reads(tmp_path: Path) -> None:
    """A model trained in a notebook, kept for later chapters: weights and config, no optimizer."""
    model = VAE(VAEConfig(latent_dim=3, hidden_dims=(16, 8), activation="elu"))
    path = save_model(model, tmp_path / "mine" / "my_vae.pt")
    assert path == tmp_path / "mine" / "my_vae.pt"
    assert "optimizer" not in load_checkpoint(path)
    loaded = load_model(path)
    assert loaded.config == model.config
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
