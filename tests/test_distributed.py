"""Several processes (torchrun, DDP with gloo on the CPU) train the run one process trains.

The two-process tests start ``torchrun --standalone`` (it picks a free port) in a subprocess with
a time limit, and kill its whole process group if it is exceeded, so a stuck collective can never
hang the test run. This file is also the workers' program: ``torchrun ... test_distributed.py
OUT`` runs :func:`_worker` in each process.

What is compared: every random number is the same in one process and in two (the binarization,
the corruptions and the reparameterization noise are drawn for the whole global batch in every
process, which keeps its rows), so the only difference is the order of floating-point sums (the
mean over a batch of 16 against the average of two means over 8). After 256 Adam steps the
parameters (of size up to 0.6) differ by at most 6e-8, float32's rounding; the tolerance below
allows 1e-6.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae_tutorial import data, distributed
from vae_tutorial.corruptions import Corruption
from vae_tutorial.model import VAE, VAEConfig, reparameterize
from vae_tutorial.objective import Objective
from vae_tutorial.train import TrainConfig, TrainingDiverged, load_model, train
from vae_tutorial.variants import build_model

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 180  # a hung collective fails after 60 s (the workers' timeout) well before this
TOLERANCE = {"rtol": 0.0, "atol": 1e-6}

SMALL = VAEConfig(latent_dim=4, hidden_dims=(64,))
RUNS = {  # 511 training digits: the last batch of each epoch is odd, so the shares are uneven
    "plain, cosine schedule, 256 steps": (
        SMALL,
        TrainConfig(epochs=8, batch_size=16, lr_schedule="cosine"),
    ),
    "conditional, denoising, KL warm-up": (
        VAEConfig(latent_dim=2, hidden_dims=(32,), n_classes=10),
        TrainConfig(
            epochs=3,
            batch_size=32,
            corruption=(Corruption("gaussian", 0.5), Corruption("half")),
            objective=Objective(kl_warmup_epochs=1),
        ),
    ),
}
RESUMED = TrainConfig(epochs=4, batch_size=16)  # 2 epochs, then --resume to 4


@pytest.fixture(autouse=True)
def _one_thread():
    """The single-process runs use one thread, as each worker does: on a busy 2-core machine two
    OpenMP threads can make them ten times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def _fallback() -> data.MNISTData:
    return data._load_fallback()  # the 5,000 digits of the offline fallback: 2 s to load


def _data() -> data.MNISTData:
    full = _fallback()
    return data.hold_out_validation(  # 613 - 102 = 511 training digits
        data.MNISTData(
            full.train_images[:613],
            full.train_labels[:613],
            full.test_images[:255],
            full.test_labels[:255],
            full.source,
        )
    )


def _model(config: VAEConfig, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return build_model(config)


def _params(model: VAE) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.state_dict().items()}


def _worker(out: Path) -> None:
    """One of torchrun's processes: train every run of RUNS, a resumed run and a diverging one.

    Each process saves what it trained to ``OUT/rank<r>.pt`` for the test to compare."""
    import torch.distributed as dist

    world, _ = distributed.start(torch.device("cpu"), timeout_s=60)  # fail, never hang
    data_set = torch.load(out / "data.pt", weights_only=False)  # the test's: no 2 s load here
    result = {"world": world, "params": {}, "history": {}, "log": {}}
    try:
        for name, (model_config, config) in RUNS.items():
            model, lines = _model(model_config), []
            history = train(model, data_set, config, progress=False, log=lines.append)
            result["params"][name], result["log"][name] = _params(model), lines
            result["history"][name] = history.to_dict()

        path = out / "resumed.pt"
        halfway = TrainConfig(epochs=2, batch_size=RESUMED.batch_size)
        train(_model(SMALL), data_set, halfway, checkpoint=path, progress=False, log=None)
        dist.barrier()  # process 0 has written the checkpoint that every process resumes from
        if world.is_main:  # a copy for one process to resume, in the test
            shutil.copy(path, out / "halfway.pt")
        resumed, lines = _model(SMALL, seed=99), []  # its weights must come from the file
        train(resumed, data_set, RESUMED, checkpoint=path, resume=True, progress=False,
              log=lines.append)  # fmt: skip
        result["params"]["resumed"], result["log"]["resumed"] = _params(resumed), lines

        broken = _model(SMALL)  # NaN in process 1 only: both must stop, neither may hang
        if world.rank == 1:
            decode = broken.decode
            broken.decode = lambda z: decode(z) * float("nan")
        try:
            train(broken, data_set, RESUMED, progress=False, log=None)
        except TrainingDiverged as error:
            result["diverged"] = str(error)
    finally:
        distributed.stop()
    torch.save(result, out / f"rank{world.rank}.pt")


def _torchrun(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node=2 ARGS`` on the offline data, one thread each."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(
        VAE_TUTORIAL_DATA=str(tmp_path / "no_mnist_here"),
        VAE_TUTORIAL_OFFLINE="1",
        VAE_TUTORIAL_FALLBACK="1",
        OMP_NUM_THREADS="1",
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", *args]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and its workers
        stdout, stderr = process.communicate()
        pytest.fail(f"torchrun took over {TIMEOUT_S} s; it printed:\n{stdout}\n{stderr[-4000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _assert_close(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str):
    for name, value in expected.items():
        torch.testing.assert_close(
            got[name], value, **TOLERANCE, msg=lambda m, n=name: f"{what}, {n}: {m}"
        )


def test_two_processes_train_the_parameters_one_process_trains(tmp_path: Path) -> None:
    data_set = _data()
    torch.save(data_set, tmp_path / "data.pt")
    done = _torchrun([__file__, str(tmp_path)], tmp_path)
    assert done.returncode == 0, f"the workers failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [
        distributed.World(rank=r, size=2, local_rank=r, backend="gloo") for r in (0, 1)
    ]
    for name, (model_config, config) in RUNS.items():
        one = _model(model_config)
        history = train(one, data_set, config, progress=False, log=None)
        for rank in ranks:
            _assert_close(rank["params"][name], _params(one), f"{name}, rank {rank['world'].rank}")
            for key in ("train_loss", "train_objective", "validation_loss", "validation_kl"):
                assert rank["history"][name][key] == pytest.approx(
                    getattr(history, key), rel=1e-6
                ), (name, key)
        # DDP keeps the two copies identical, bit for bit
        assert all(torch.equal(ranks[0]["params"][name][k], v)
                   for k, v in ranks[1]["params"][name].items())  # fmt: skip
        # process 0 alone logs
        assert len(ranks[0]["log"][name]) == config.epochs and ranks[1]["log"][name] == []

    straight = _model(SMALL)
    train(straight, data_set, RESUMED, progress=False, log=None)
    for rank in ranks:
        _assert_close(rank["params"]["resumed"], _params(straight), "resumed")
    # the checkpoint of two processes, resumed by one: the same run again
    one = _model(SMALL, seed=99)
    train(one, data_set, RESUMED, checkpoint=tmp_path / "halfway.pt", resume=True,
          progress=False, log=None)  # fmt: skip
    _assert_close(_params(one), _params(straight), "two processes, then one")
    assert ranks[0]["log"]["resumed"][0].startswith("Resuming")
    assert len(ranks[0]["log"]["resumed"]) == 3 and ranks[1]["log"]["resumed"] == []

    for rank in ranks:  # NaN in one process stops both, at the same step
        assert "stopped at epoch 1, batch 1: the loss became nan" in rank["diverged"]


def test_torchrun_trains_from_the_command_line_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run.pt"
    args = ["-m", "vae_tutorial", "train", "--latent-dim", "2", "--hidden-dims", "32",
            "--batch-size", "128", "--out", str(out)]  # fmt: skip
    first = _torchrun([*args, "--epochs", "1"], tmp_path)
    assert first.returncode == 0, first.stderr[-4000:]
    # process 0 alone prints (each process would print these lines otherwise)
    for line in ("Using device: cpu", "Training a 784-32-2", "epoch   1/1", "Saved "):
        assert first.stdout.count(line) == 1, (line, first.stdout)
    assert "epoch 1/1: 100%" in first.stderr  # one progress bar: process 0's
    resumed = _torchrun([*args, "--epochs", "2", "--resume", "--no-progress"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert resumed.stdout.count("Resuming") == 1 and "epoch   2/2" in resumed.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.pt"]

    record = json.loads(out.with_suffix(".json").read_text())
    assert record["training"]["batch_size"] == 128 and len(record["commands"]) == 2
    assert record["threads"] == 1
    assert record["distributed"] == [
        {
            "command": command,
            "world_size": 2,
            "backend": "gloo",
            "batch_size": 128,
            "batch_size_is_global": True,
            "batch_size_per_process": 64,
            "threads_per_process": 1,
        }
        for command in record["commands"]
    ]
    # the run one process trains: seed, build, train, as the command line does
    from vae_tutorial import seed_everything

    seed_everything(0)
    one = build_model(VAEConfig(latent_dim=2, hidden_dims=(32,)))
    history = train(one, _fallback(), TrainConfig(epochs=2, batch_size=128),
                    progress=False, log=None)  # fmt: skip
    _assert_close(_params(load_model(out)), _params(one), "command line")
    assert record["history"]["validation_loss"] == pytest.approx(history.validation_loss, abs=2e-3)


def test_a_batch_the_processes_cannot_share_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from vae_tutorial.__main__ import main

    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun --nproc_per_node=2 tells process 0
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--batch-size", "33", "--out", str(tmp_path / "run.pt")])
    assert exit_.value.code == 2
    assert "--batch-size 33 is the global batch, which the 2 processes share: it must be " \
        "divisible by 2 (e.g. 32 or 34)" in capsys.readouterr().err  # fmt: skip
    assert not (tmp_path / "run.pt").exists()
    with pytest.raises(ValueError, match=r"last batch of an epoch holds 1 of the 129 training"):
        distributed.World(rank=0, size=2).check_batch_size(128, n_train=129)
    distributed.World(rank=0, size=2).check_batch_size(128, n_train=130)  # 64 + 1 each: fine


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_each_process_takes_a_contiguous_share_of_every_batch(size: int) -> None:
    for n in (1, 7, 16, 17, 128):
        shares = [distributed.World(rank=r, size=size).rows(n) for r in range(size)]
        assert [i for s in shares for i in range(n)[s]] == list(range(n))
        assert max(s.stop - s.start for s in shares) - min(s.stop - s.start for s in shares) <= 1


def test_each_share_gets_its_rows_of_the_noise_one_process_draws() -> None:
    """reparameterize, unchanged, inside World.global_noise: the ε of the whole batch, sliced,
    and the global random stream left where one process leaves it."""
    mean, log_var = torch.randn(9, 3), torch.randn(9, 3)
    torch.manual_seed(1)
    expected, after = reparameterize(mean, log_var), torch.rand(1)
    for rank in (0, 1):
        world = distributed.World(rank=rank, size=2)
        rows = world.rows(9)  # 5 and 4 rows
        torch.manual_seed(1)
        with world.global_noise(9):
            z = reparameterize(mean[rows], log_var[rows])
        assert torch.equal(z, expected[rows]) and torch.equal(torch.rand(1), after)
        g = torch.Generator().manual_seed(0)  # its own generator: left alone
        with world.global_noise(9):
            assert torch.randn(len(mean[rows]), 3, generator=g).shape == (len(mean[rows]), 3)


def test_a_single_process_is_a_world_of_one() -> None:
    assert distributed.environment() == distributed.current() == distributed.World()
    model = _model(SMALL)
    assert distributed.World().data_parallel(model) == model.loss  # no DDP, no wrapper
    batch = data.Batch(torch.rand(4, 784), y=torch.arange(4))
    assert distributed.World().share(batch).x.shape == (4, 784)


def test_the_appendix_quotes_the_training_loop_as_it_is() -> None:
    """book/distributed.md shows the loop of train_epoch abridged: every line of its code is a
    line of train_epoch (comments aside), in the same order."""
    import inspect
    import re

    from vae_tutorial.train import train_epoch

    page = (ROOT / "book" / "distributed.md").read_text()
    block = re.search(r"```\{code-block\} python\n:caption: the loop of `train_epoch`.*?\n\n"
                      r"(.*?)```", page, re.S)  # fmt: skip
    assert block, "the appendix no longer shows the loop of train_epoch"

    def code(line: str) -> str:
        return line.split("  # ")[0].strip()

    source = [code(line) for line in inspect.getsource(train_epoch).splitlines()]
    quoted = [code(line) for line in block.group(1).splitlines() if code(line) not in ("", "...")]
    position = 0
    for line in quoted:
        assert line in source[position:], f"the appendix quotes a line train_epoch lacks: {line}"
        position = source.index(line, position) + 1


if __name__ == "__main__":  # a torchrun worker: python -m torch.distributed.run ... this file OUT
    _worker(Path(sys.argv[1]))
