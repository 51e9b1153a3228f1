"""Nothing lost, nothing silently wrong: the records, export, resume and the CLI's inputs under
careless or hostile use (issue 36). Every refusal happens before any work, and leaves the files
as they were."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from vae_tutorial import records
from vae_tutorial.__main__ import main
from vae_tutorial.train import CheckpointError, load_checkpoint, load_model, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--latent-dim", "2", "--hidden-dims", "16", "--batch-size", "500", "--no-progress"]


@pytest.fixture
def fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAE_TUTORIAL_FALLBACK", "1")


@pytest.fixture
def trained(tmp_path: Path, fallback: None) -> Path:
    """A one-epoch training checkpoint with its record, on the offline fallback."""
    out = tmp_path / "runs" / "tiny.pt"
    main(["train", "--epochs", "1", "--out", str(out), *TINY])
    return out


def _refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI, insist it exits with an error, and return the message."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code not in (0, None)
    err = capsys.readouterr().err + (exit_.value.code if isinstance(exit_.value.code, str) else "")
    assert "Traceback" not in err
    return err


def _strict(path: Path) -> dict:
    def no_constants(name: str) -> None:
        raise AssertionError(f"{path.name} holds {name}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=no_constants)


def test_evaluate_never_replaces_a_record_with_a_lesser_evaluation(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["evaluate", str(trained), "--k", "1", "2", "--n-test", "20", "--no-progress"])
    record = trained.with_suffix(".json")
    before = record.read_bytes()
    err = _refused(["evaluate", str(trained), "--k", "1", "--n-test", "1", "--no-progress"],
                   capsys)  # fmt: skip
    assert "1 test digits instead of 20" in err and "no bound at k = 2" in err
    assert "--replace" in err and "--no-record" in err
    assert record.read_bytes() == before
    main(["evaluate", str(trained), "--k", "1", "--n-test", "1", "--no-progress", "--replace"])
    evaluation = _strict(record)["evaluation"]
    assert evaluation["test_digits"] == 1 and evaluation["iwae"]["1"]["standard_error"] is None
    assert evaluation["active_units"] is None
    assert "active units: not measured on one digit" in capsys.readouterr().out


def test_a_full_mnist_evaluation_is_never_replaced_by_the_fallback(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_path = trained.with_suffix(".json")
    record = _strict(record_path)
    record["evaluation"] = {"data": "full MNIST: 60,000 training and 10,000 test digits",
                            "test_digits": 10_000, "iwae": {"1": {"nll": 90.0}}}  # fmt: skip
    record_path.write_text(json.dumps(record))
    before = record_path.read_bytes()
    for extra in ([], ["--replace"]):
        err = _refused(["evaluate", str(trained), "--k", "1", "--no-progress", *extra], capsys)
        assert "not comparable" in err
    assert record_path.read_bytes() == before


def test_a_broken_record_stops_evaluate_export_and_init_from_before_any_work(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_path = trained.with_suffix(".json")
    record_path.write_text('{"commands": [')
    export = tmp_path / "exported.pt"
    for args in (
        ["evaluate", str(trained), "--k", "1", "--no-progress"],
        ["export", str(trained), str(export)],
        ["train", "--epochs", "1", "--init-from", str(trained), "--out",
         str(tmp_path / "next.pt"), *TINY],
    ):  # fmt: skip
        assert "is not valid JSON" in _refused(args, capsys)
    assert not export.exists(), "export wrote its .pt before finding the record broken"
    assert record_path.read_text() == '{"commands": ['


def test_repeats_without_a_seed_do_not_crash_evaluate(trained: Path) -> None:
    record_path = trained.with_suffix(".json")
    record = _strict(record_path)
    record["evaluation_repeats"] = [{"iwae": {}}]  # an older or hand-made repeat, no seeds
    record_path.write_text(json.dumps(record))
    main(["evaluate", str(trained), "--k", "1", "--n-test", "5", "--seed", "3", "--no-progress"])
    assert len(_strict(record_path)["evaluation_repeats"]) == 2


def test_a_read_only_folder_is_found_before_the_work(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    scored = []
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)  # root ignores chmod
    monkeypatch.setattr("vae_tutorial.evaluate.log_likelihood", lambda *a, **k: scored.append(1))
    err = _refused(["evaluate", str(trained), "--k", "1", "--no-progress"], capsys)
    assert "cannot write the record" in err and "Nothing was run" in err and not scored


def test_records_are_strict_json() -> None:
    with pytest.raises(records.RecordError, match="NaN or an infinite number"):
        records.write_record(Path("/nonexistent/x.pt"), {"se": float("nan")})


def test_export_refuses_its_own_input_and_resume_explains_an_export(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = trained.read_bytes()
    assert "is the checkpoint itself" in _refused(["export", str(trained), str(trained)], capsys)
    assert trained.read_bytes() == before and "optimizer" in load_checkpoint(trained)
    exported = tmp_path / "exported.pt"
    main(["export", str(trained), str(exported)])
    err = _refused(["train", "--epochs", "2", "--resume", "--out", str(exported), *TINY], capsys)
    assert "exported checkpoint" in err and f"--init-from {exported}" in err


def test_resuming_to_no_more_epochs_is_refused_and_changes_nothing(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {p: p.read_bytes() for p in (trained, trained.with_suffix(".json"))}
    for epochs in ("1", "1"):
        err = _refused(["train", "--epochs", epochs, "--resume", "--out", str(trained), *TINY],
                       capsys)  # fmt: skip
        assert "already trained 1 epoch" in err and "pass more than 1" in err
    assert all(p.read_bytes() == blob for p, blob in files.items())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--corruption", "gaussian:inf", "--out", "x.pt"], "finite number >= 0"),
        (["train", "--corruption", "gaussian:nan", "--out", "x.pt"], "finite number >= 0"),
        (["train", "--seed", "-1", "--out", "x.pt"], "0 <= seed < 2**63"),
        (["train", "--seed", str(2**70), "--out", "x.pt"], "0 <= seed < 2**63"),
        (["evaluate", "x.pt", "--seed", "-1"], "0 <= seed < 2**63"),
        (["evaluate", "x.pt", "--binarization-seed", str(2**64)], "0 <= seed < 2**63"),
        (["sample", "x.pt", "--seed", "-5"], "0 <= seed < 2**63"),
        (["train", "--hidden-dims", str(10**7), "--out", "x.pt"], "from 1 to 65,536"),
        (["sample", "x.pt", "--n", str(10**6)], "from 1 to 100,000"),
    ],
)
def test_inputs_are_validated_before_any_work(args, message, capsys) -> None:
    assert message in _refused(args, capsys)


def test_a_model_too_big_for_memory_is_refused(tmp_path: Path, fallback: None, capsys) -> None:
    err = _refused(["train", "--hidden-dims", "60000", "60000", "60000", "--out",
                    str(tmp_path / "big.pt")], capsys)  # fmt: skip
    assert "GB, and this machine has" in err and not (tmp_path / "big.pt").exists()


def test_sample_checks_the_file_type_before_sampling(tmp_path: Path, capsys) -> None:
    err = _refused(["sample", str(ROOT / "checkpoints" / "mnist_latent2.pt"), "--out",
                    str(tmp_path / "s.txt")], capsys)  # fmt: skip
    assert ".txt is not an image format" in err and not (tmp_path / "s.txt").exists()


def test_a_huge_beta_is_blamed_on_beta(tmp_path: Path, fallback: None) -> None:
    with pytest.raises(SystemExit, match="KL weight 1e\\+308 \\(--beta\\)") as exit_:
        main(["train", "--beta", "1e308", "--out", str(tmp_path / "b.pt"), *TINY])
    assert "KLDivLoss" not in str(exit_.value.code)


def test_crafted_checkpoints_get_a_message(tmp_path: Path) -> None:
    good = load_checkpoint(ROOT / "checkpoints" / "mnist_latent2.pt")
    cases = {
        "no-model": ({k: v for k, v in good.items() if k != "model"}, "has no model entry"),
        "bad-config": ({**good, "model_config": {**good["model_config"], "colour": 1}},
                       "cannot build"),
        "bad-weights": ({**good, "model": {**good["model"],
                                           "to_mean.weight": torch.zeros(3, 3)}}, "do not fit"),
    }  # fmt: skip
    for name, (state, message) in cases.items():
        path = tmp_path / f"{name}.pt"
        torch.save(state, path)
        with pytest.raises(CheckpointError, match=message):
            load_model(path)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError) as err:
        load_model(noise)
    assert "weights_only" not in str(err.value)


def test_a_full_disk_is_reported_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "run.pt"
    state = {"model_config": {"latent_dim": 2}, "model": {}}
    save_checkpoint(target, {**state, "step": 1})

    def full(obj: object, path: object) -> None:
        Path(path).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 4480")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointError, match="no space left on the device"):
        save_checkpoint(target, {**state, "step": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
    monkeypatch.undo()
    assert load_checkpoint(target)["step"] == 1


def test_no_reference_record_changes_under_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The committed references: a lesser evaluation, an in-place export and a resume of an
    export are each refused, and neither the .pt nor the .json changes."""
    ref = ROOT / "checkpoints" / "mnist_vae20.pt"
    files = {p: p.read_bytes() for p in (ref, ref.with_suffix(".json"))}
    for args in (
        ["evaluate", str(ref), "--n-test", "1", "--k", "1", "--no-progress"],
        ["export", str(ref), str(ref)],
        ["train", "--resume", "--epochs", "30", "--out", str(ref), "--no-progress"],
    ):
        _refused(args, capsys)
    assert all(p.read_bytes() == blob for p, blob in files.items())
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_hung_process_is_reported_with_the_command_that_resumes(tmp_path: Path) -> None:
    """Under torchrun, process 1 stops answering (as under SIGSTOP); process 0 gives up after
    --collective-timeout and says how to resume, instead of waiting silently for 10 minutes."""
    import subprocess
    import sys

    script = tmp_path / "hang_rank_1.py"
    script.write_text(
        "import os, sys, time\n"
        "from vae_tutorial import distributed\n"
        "if os.environ.get('RANK') == '1':\n"
        "    distributed.World.sum = lambda self, tensor: time.sleep(3600)\n"
        "from vae_tutorial.__main__ import main\n"
        "main(sys.argv[1:])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(VAE_TUTORIAL_FALLBACK="1", VAE_TUTORIAL_OFFLINE="1", OMP_NUM_THREADS="1")
    out = tmp_path / "run.pt"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(script), "train", "--epochs", "1", "--out", str(out), "--collective-timeout", "5",
         *TINY],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "did not answer for 5 s (--collective-timeout)" in text, text[-3000:]
    assert "--resume" in text
