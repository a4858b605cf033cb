"""`bench train` (bench/neural/train.py): a complete family, resuming, files written whole, time limits,
fine-tuning, and what it records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.api.codec_registry import load_plugin_file
from bench.api.files import sha256_file
from bench.neural.family import NeuralFamily
from conftest import TINY, bench_cli, gradient, pillow_bytes, require_module
from sessions import session_processes, wait_until_gone

require_module("compressai", "bench train's models (CompressAI's layers and entropy coders)")
import torch  # noqa: E402


def test_the_plugin_file_of_a_family_imports_only_from_bench(tiny_family):
    import ast

    tree = ast.parse((tiny_family / "plugin.py").read_text())
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert "bench.neural.codec" in modules
    assert all(m == "pathlib" or m == "bench" or m.startswith("bench.") for m in modules), modules


def test_train_writes_a_complete_family(tiny_family):
    family = json.loads((tiny_family / "family.json").read_text())
    # --arch hyperprior trains the portable model (integer hyper-synthesis), recorded under its own name
    assert family["architecture"] == "portable-hyperprior" and (family["N"], family["M"]) == (8, 8)
    assert [m["lambda"] for m in family["models"]] == [0.01, 0.05]  # quality 1 = lowest lambda = lowest rate
    for model in family["models"]:
        assert sha256_file(tiny_family / model["weights"]) == model["sha256"]
        assert model["steps"] == 4 and model["best_step"] in (2, 4) and model["device"].startswith("CPU")
    assert family["kmac_per_pixel"]["encoder"] > 0 and family["kmac_per_pixel"]["decoder"] > 0
    assert family["training"]["data"]["train_images"] == 6 and family["training"]["data"]["val_images"] == 1
    assert family["training"]["command"].startswith("bench train --data")
    card = (tiny_family / "MODEL_CARD.md").read_text()
    assert "## Reproduce" in card and family["training"]["command"] in card
    for m in NeuralFamily(tiny_family).models.values():
        assert m.weights.stat().st_size > 0
        # readable as the folder's other files are (the user's umask), not private to its owner
        assert m.weights.stat().st_mode == (tiny_family / "family.json").stat().st_mode
    # the safetensors header's keys in sorted order: the same weights give the same bytes
    raw = (tiny_family / family["models"][0]["weights"]).read_bytes()
    keys = list(json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")]))
    assert keys == sorted(keys)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, crops):
    args = ["--data", str(crops), "--lambdas", "0.02", "--steps", "60", "--val-every", "5", "--name", "resume", *TINY]
    whole = bench_cli("train", "--out", str(tmp_path / "whole"), *args)
    assert whole.returncode == 0, whole.stderr[-2000:]

    cmd = [sys.executable, "-m", "bench", "train", "--out", str(tmp_path / "cut"), *args]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "cut" / "checkpoints" / "lambda0.02.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists() and not (tmp_path / "cut" / "lambda0.02.safetensors").exists()

    resumed = bench_cli("train", "--out", str(tmp_path / "cut"), *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from step" in resumed.stderr
    assert sha256_file(tmp_path / "cut" / "lambda0.02.safetensors") == sha256_file(
        tmp_path / "whole" / "lambda0.02.safetensors"
    )


# --- files written whole or not at all, and what a resume does with one that is not --------------------


def small_config(crops: Path, out: Path, **changes):
    """An in-process ``bench train`` of one tiny model (two steps) named ``tiny`` wherever it is written,
    with the options in ``changes``."""
    from bench.neural.train import TrainConfig

    tiny = dict(lambdas=(0.02,), arch="hyperprior", N=8, M=8, batch_size=2, crop=64, steps=2, val_every=2, device="cpu",
                progress=False, name="tiny")  # fmt: skip
    return TrainConfig(data=crops, out=out, **{**tiny, **changes})


@pytest.fixture(scope="module")
def small_family(tmp_path_factory, crops, one_torch_thread) -> Path:
    from bench.neural.train import train_family

    out = tmp_path_factory.mktemp("small") / "fam"
    train_family(small_config(crops, out))
    return out


def cut_writes(monkeypatch, names: set[str]) -> None:
    """Every write of a file named in ``names`` (or of its temporary ``.<name>.<random>.tmp``) stops
    half-way with an OSError, as a full disk or a kill would: half of the bytes are in the file."""
    write_text, write_bytes = Path.write_text, Path.write_bytes

    def cut(write):
        def cut_write(self, data, *args, **kwargs):
            temporary_of = {n for n in names if self.name.startswith(f".{n}.") and self.name.endswith(".tmp")}
            if self.name not in names and not temporary_of:
                return write(self, data, *args, **kwargs)
            write(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device")

        return cut_write

    monkeypatch.setattr(Path, "write_text", cut(write_text))
    monkeypatch.setattr(Path, "write_bytes", cut(write_bytes))


@pytest.mark.parametrize("name", ["family.json", "plugin.py", "MODEL_CARD.md"])
def test_a_family_file_whose_write_is_cut_stays_as_it_was(small_family, crops, tmp_path, monkeypatch, name):
    import shutil

    from bench.neural.train import train_family

    family = tmp_path / "fam"
    shutil.copytree(small_family, family)
    before = (family / name).read_bytes()
    cut_writes(monkeypatch, {name})
    with pytest.raises(OSError, match="No space left"):
        train_family(small_config(crops, family))  # the model is finished: only the family files are written
    assert (family / name).read_bytes() == before
    assert not list(family.glob("*.tmp"))


def test_a_result_file_whose_write_is_cut_does_not_break_the_resume(small_family, crops, tmp_path, monkeypatch):
    from bench.neural.train import train_family

    family = tmp_path / "fam"
    with monkeypatch.context() as patched:
        cut_writes(patched, {"lambda0.02.json"})
        with pytest.raises(OSError, match="No space left"):
            train_family(small_config(crops, family))
    assert not (family / "checkpoints" / "lambda0.02.json").exists()  # no half of it
    train_family(small_config(crops, family))
    assert sha256_file(family / "lambda0.02.safetensors") == sha256_file(small_family / "lambda0.02.safetensors")


def test_a_resume_finishes_a_model_whose_result_file_is_truncated_again_from_its_checkpoint(
    small_family, crops, tmp_path, capsys
):
    import shutil

    from bench.neural.train import TrainError, train_family

    family = tmp_path / "fam"
    shutil.copytree(small_family, family)
    result = family / "checkpoints" / "lambda0.02.json"
    whole = json.loads(result.read_text())
    result.write_text(result.read_text()[:100])  # as an older version left it when killed while writing it
    train_family(small_config(crops, family))
    warning = capsys.readouterr().err
    assert f"{result} cannot be read (not valid JSON" in warning and "finishing the model again from" in warning
    assert json.loads(result.read_text())["sha256"] == whole["sha256"]  # the same weights, no step trained again
    assert json.loads(result.read_text())["steps"] == 2
    assert sha256_file(family / "lambda0.02.safetensors") == whole["sha256"]

    result.write_text(result.read_text()[:100])
    (family / "checkpoints" / "lambda0.02.pt").unlink()  # nothing to finish it from: refused, nothing trained
    with pytest.raises(TrainError) as refused:
        train_family(small_config(crops, family))
    message = str(refused.value)
    assert "\n" not in message and f"{result} cannot be read" in message
    assert f"delete {family / 'lambda0.02.safetensors'} to train that model again" in message
    assert sha256_file(family / "lambda0.02.safetensors") == whole["sha256"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_training_outlives_a_terminated_or_killed_bench_train(tmp_path, crops, sig):
    cmd = [sys.executable, "-m", "bench", "train", "--data", str(crops), "--out", str(tmp_path / "t"), "--lambdas",
           "0.01,0.02", "--steps", "1000000", "--val-every", "1000000", "-j", "2", *TINY]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(session_processes(proc.pid)) < 4:  # bench train, tracker, 2 workers
        time.sleep(0.1)
    time.sleep(3)  # the workers are training
    try:
        assert len(session_processes(proc.pid)) >= 4 and proc.poll() is None
        os.kill(proc.pid, sig)  # the main process only, as `timeout`, Slurm or the OOM killer do
        proc.wait(30)
        assert wait_until_gone(proc.pid) == []
    finally:
        for pid in session_processes(proc.pid):  # a failure leaves nothing running either
            os.kill(pid, signal.SIGKILL)


def test_a_time_limit_stops_training_and_its_schedule_follows_the_clock(tmp_path, crops):
    out = tmp_path / "timed"
    result = bench_cli("train", "--data", str(crops), "--out", str(out), "--lambdas", "0.02", "--steps", "1000000",
                       "--minutes", "0.05", "--val-every", "1000000", *TINY, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    family = json.loads((out / "family.json").read_text())
    (model,) = family["models"]
    assert 0 < model["steps"] < 1000000 and model["steps"] == model["best_step"] == model["total_steps"]
    assert 3 <= model["train_seconds"] < 30 and model["steps_per_second"] > 0
    assert family["training"]["config"]["minutes"] == 0.05
    card = (out / "MODEL_CARD.md").read_text()
    assert "or 0.05 minutes, whichever came first" in card and "steps/s)" in card


def test_the_history_of_init_weights_is_the_history_of_their_family(tmp_path):
    from bench.neural.train import TrainConfig, _init_family_commands

    family = tmp_path / "fam"
    family.mkdir()
    listed = {"models": [{"weights": "lambda0.01.safetensors"}], "training": {"commands": ["bench train A", "B"]}}
    (family / "family.json").write_text(json.dumps(listed))
    (family / "lambda0.01.safetensors").write_bytes(b"")
    (family / "other.safetensors").write_bytes(b"")

    def history(init):
        return _init_family_commands(TrainConfig(data=tmp_path, out=tmp_path / "o", lambdas=(0.01,), init=init))

    assert history(family) == history(family / "lambda0.01.safetensors") == ["bench train A", "B"]
    assert history(family / "other.safetensors") == [] and history(None) == [] and history(Path("nearest")) == []
    old = {"models": [], "training": {"command": "bench train old"}}  # written before histories were kept
    (family / "family.json").write_text(json.dumps(old))
    assert history(family) == ["bench train old"]


def test_the_learning_rate_schedule_runs_over_steps_or_time_whichever_is_further_along(tmp_path):
    from bench.neural.train import TrainConfig, _lr_at, _progress

    config = TrainConfig(data=tmp_path, out=tmp_path, lambdas=(0.01,), steps=1000, lr=1e-4, lr_schedule="cosine")
    assert _progress(config, 500, 1e9) == 0.5  # no time limit: steps alone
    timed = TrainConfig(data=tmp_path, out=tmp_path, lambdas=(0.01,), steps=1000, minutes=10, lr=1e-4,
                        lr_schedule="cosine")  # fmt: skip
    assert _progress(timed, 100, 300) == 0.5 and _progress(timed, 800, 300) == 0.8 and _progress(timed, 0, 1e9) == 1
    assert _lr_at(timed, 0) == pytest.approx(1e-4) and _lr_at(timed, 1) == pytest.approx(1e-6)
    assert _lr_at(timed, 0.5) == pytest.approx(1e-4 * (0.01 + 0.99 * 0.5))
    step = TrainConfig(data=tmp_path, out=tmp_path, lambdas=(0.01,), steps=1000, lr=1e-4, lr_schedule="step")
    assert (_lr_at(step, 0.84), _lr_at(step, 0.85)) == (1e-4, pytest.approx(1e-5))


def test_train_refuses_bad_requests(tmp_path, crops):
    result = bench_cli("train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--lambdas", "0.01")
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = bench_cli("train", "--data", str(crops), "--out", str(tmp_path / "o"), "--lambdas", "0.01", "--crop", "100",
                       "--arch", "hyperprior")  # fmt: skip
    assert result.returncode == 2 and "multiple of 64" in result.stderr


def test_a_family_grows_by_fine_tuning_from_one_of_its_models(tiny_family, crops, tmp_path, kodak_crop):
    import shutil

    from safetensors.torch import load_file

    family = tmp_path / "tiny"
    shutil.copytree(tiny_family, family)
    base = family / "lambda0.05.safetensors"
    result = bench_cli("train", "--data", str(crops), "--out", str(family), "--lambdas", "0.02", "--steps", "2",
                       "--val-every", "2", "--seed", "7", "--init", str(base), *TINY)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads((family / "family.json").read_text())
    assert [m["lambda"] for m in info["models"]] == [0.01, 0.02, 0.05]  # the earlier models kept, in rate order
    grown = info["models"][1]
    assert grown["init"]["sha256"] == sha256_file(base) and grown["init"]["lambda"] == 0.05
    assert (grown["steps"], grown["total_steps"], info["models"][2]["total_steps"]) == (2, 6, 4)
    assert "--init" in grown["command"] and "--init" not in info["models"][0]["command"]
    assert len(info["training"]["commands"]) == 2
    # it started from the base model's weights (not from seed 7's random ones): two small steps away
    start, tuned = load_file(str(base)), load_file(str(family / grown["weights"]))
    assert (tuned["g_a.0.weight"] - start["g_a.0.weight"]).abs().max() < 0.01
    assert (
        load_file(str(family / "lambda0.01.safetensors"))["g_a.0.weight"] - start["g_a.0.weight"]
    ).abs().max() > 0.05
    card = (family / "MODEL_CARD.md").read_text()
    assert "| 2 | 0.02 | 2 from lambda 0.05 (6 in all) |" in card
    assert all(command in card for command in info["training"]["commands"])
    codec = load_plugin_file(family / "plugin.py").FamilyCodec()
    assert codec.knob.sweep == (1, 2, 3) and codec.decode(codec.encode(kodak_crop, 2)).shape == kodak_crop.shape
    # a portable model's h_s is stored once, as integers
    assert "h_s.layers.0.weight_int" in tuned and "h_s.layers.0.weight" not in tuned

    # --init nearest: each new lambda from the family's model of the nearest lambda (0.2 from 0.05)
    result = bench_cli("train", "--data", str(crops), "--out", str(family), "--lambdas", "0.2,0.012", "--steps", "2",
                       "--val-every", "2", "--init", "nearest", *TINY)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    models = {m["lambda"]: m for m in json.loads((family / "family.json").read_text())["models"]}
    assert list(models) == [0.01, 0.012, 0.02, 0.05, 0.2]
    assert models[0.2]["init"]["lambda"] == 0.05 and models[0.012]["init"]["lambda"] == 0.01
    assert models[0.2]["total_steps"] == 6 and models[0.012]["total_steps"] == 6


def test_a_hyperprior_family_starts_from_a_factorized_familys_transforms(crops, tmp_path):
    from safetensors.torch import load_file

    factorized = tmp_path / "fact"
    small = ["--N", "8", "--M", "8", "--batch-size", "2", "--crop", "64", "--threads", "1", "--device", "cpu",
             "--no-progress", "--steps", "2", "--val-every", "2"]  # fmt: skip
    result = bench_cli("train", "--data", str(crops), "--out", str(factorized), "--arch", "factorized",
                       "--lambdas", "0.01,0.05", *small)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    hyper = tmp_path / "hyper"
    result = bench_cli("train", "--data", str(crops), "--out", str(hyper), "--arch", "hyperprior", "--seed", "5",
                       "--lambdas", "0.05,0.02", "--init", str(factorized), *small)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    models = {m["lambda"]: m for m in json.loads((hyper / "family.json").read_text())["models"]}
    # each from the factorized model of the nearest lambda (the same one when it exists), its transforms only
    assert models[0.05]["init"]["lambda"] == 0.05 and models[0.02]["init"]["lambda"] == 0.01
    assert models[0.05]["init"]["modules"] == ["g_a", "g_s"] and models[0.05]["total_steps"] == 4
    start, tuned = (
        load_file(str(factorized / "lambda0.05.safetensors")),
        load_file(str(hyper / "lambda0.05.safetensors")),
    )
    for key in ("g_a.0.weight", "g_s.6.weight"):
        assert (tuned[key].float() - start[key].float()).abs().max() < 0.01, key
    card = (hyper / "MODEL_CARD.md").read_text()
    assert "| 2 | 0.05 | 2 from fact lambda 0.05 (g_a, g_s) (4 in all) |" in card
    # the history names the command that trained the weights it started from, then its own
    (first,) = json.loads((factorized / "family.json").read_text())["training"]["commands"]
    history = json.loads((hyper / "family.json").read_text())["training"]["commands"]
    assert len(history) == 2 and history[0] == first and "--init" in history[1]
    assert all(command in card for command in history)
    # transforms of other widths do not fit
    wider = ["--N", "16", *small[2:]]
    result = bench_cli("train", "--data", str(crops), "--out", str(tmp_path / "h2"), "--arch", "hyperprior",
                       "--lambdas", "0.05", "--init", str(factorized), *wider)  # fmt: skip
    assert (
        result.returncode == 2
        and "lambda0.05.safetensors: not the weights of a portable-hyperprior model with N=16" in result.stderr
    )


def test_fine_tuning_refuses_weights_or_families_that_do_not_fit(tiny_family, crops, tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"conv.weight": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    args = ["--data", str(crops), "--lambdas", "0.02", "--steps", "2"]
    result = bench_cli(
        "train", *args, "--out", str(tmp_path / "new"), "--init", str(tmp_path / "other.safetensors"), *TINY
    )
    assert result.returncode == 2
    assert "other.safetensors: not the weights of a portable-hyperprior model with N=8, M=8" in result.stderr
    result = bench_cli(
        "train", *args, "--out", str(tmp_path / "new"), "--init", str(tmp_path / "none.safetensors"), *TINY
    )
    assert result.returncode == 2 and "none.safetensors: no such file or folder" in result.stderr
    wider = [*TINY[:4], "--M", "16", *TINY[6:]]
    result = bench_cli("train", *args, "--out", str(tiny_family), *wider)
    assert (
        result.returncode == 2
        and "is a family of portable-hyperprior N=8 M=8, not portable-hyperprior N=8 M=16" in result.stderr
    )


def test_train_records_data_and_out_as_given(tmp_path):
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(3):
        (data / f"i{i}.png").write_bytes(pillow_bytes(gradient(64, 64, seed=i), "PNG"))
    work = tmp_path / "work"
    work.mkdir()
    result = bench_cli("train", "--data", "../imgs", "--out", "fam", "--lambdas", "0.01", "--steps", "1",
                       "--val-every", "1", "--arch", "factorized", "--N", "8", "--M", "8", "--batch-size", "1",
                       "--crop", "64", "--threads", "1", "--device", "cpu", "--no-progress", cwd=work, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    family = json.loads((work / "fam" / "family.json").read_text())
    assert family["training"]["data"]["folder"] == "../imgs"
    assert family["training"]["config"]["data"] == "../imgs" and family["training"]["config"]["out"] == "fam"
    card = (work / "fam" / "MODEL_CARD.md").read_text()
    for text in (json.dumps(family), card):
        assert str(tmp_path) not in text
    assert "- ../imgs: " in card
    # an absolute --data is recorded relative to the directory the command ran in
    out2 = work / "fam2"
    result = bench_cli("train", "--data", str(data), "--out", str(out2), "--lambdas", "0.01", "--steps", "1",
                       "--val-every", "1", "--arch", "factorized", "--N", "8", "--M", "8", "--batch-size", "1",
                       "--crop", "64", "--threads", "1", "--device", "cpu", "--no-progress", cwd=work, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    family = json.loads((out2 / "family.json").read_text())
    assert family["training"]["data"]["folder"] == "../imgs" and family["training"]["config"]["out"] == "fam2"
    assert str(tmp_path) not in json.dumps(family) and str(tmp_path) not in (out2 / "MODEL_CARD.md").read_text()
    assert os.sep not in family["training"]["config"]["out"]


def test_integer_weights_are_stored_in_int16_only_when_every_one_fits():
    from bench.neural.train import _stored

    small = torch.tensor([[-32767, 5], [32767, 0]], dtype=torch.int32)
    large = torch.tensor([-32768, 40000], dtype=torch.int32)
    assert _stored("h_s.layers.0.weight_int", small, "float16").dtype == torch.int16
    assert torch.equal(_stored("h_s.layers.0.weight_int", small, "float16").to(torch.int32), small)
    assert _stored("h_s.layers.2.weight_int", large, "float16").dtype == torch.int32
    assert _stored("h_s.layers.0.bias_int", torch.tensor([3], dtype=torch.int64), "float16").dtype == torch.int64
    assert _stored("g_a.0.weight", torch.ones(2), "float16").dtype == torch.float16


# --- what a user can get wrong: one line each, naming the file or the option, and what to do -------------


def test_a_diverging_training_stops_at_its_step_and_says_to_lower_the_learning_rate(crops, tmp_path, monkeypatch):
    from bench.neural import train
    from bench.neural.train import TrainError, train_family

    with pytest.raises(TrainError) as diverged:  # Adam at 1000: the loss is NaN after one step
        train_family(small_config(crops, tmp_path / "a", lr=1e3, steps=4))
    message = str(diverged.value)
    assert "\n" not in message and "tiny lambda0.02: the training diverged at step 2 (training loss nan)" in message
    assert "lower --lr (now 1000)" in message

    # a validation loss that is not a number (or an integer h_s no longer exact in float64) is divergence too
    monkeypatch.setattr(train, "_validate", lambda *args: {"loss": float("inf"), "bpp": 0.0, "psnr": 0.0})
    with pytest.raises(TrainError, match=r"diverged at step 2 \(validation loss inf\); lower --lr \(now 0.0001\)"):
        train_family(small_config(crops, tmp_path / "b"))


def test_learning_rates_must_be_positive_numbers(tmp_path):
    for lr in ("0", "-1e-4", "nan", "inf"):
        result = bench_cli("train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--lambdas", "0.01",
                           f"--lr={lr}")  # fmt: skip
        assert result.returncode == 2 and "argument --lr: must be a positive number" in result.stderr, lr


def test_an_out_that_is_a_file_is_refused_in_one_line(crops, tmp_path):
    from bench.neural.train import TrainError, train_family

    (tmp_path / "notes.txt").write_text("not a folder")
    with pytest.raises(TrainError, match=r"^--out \S+notes.txt is a file, not a folder; give a folder"):
        train_family(small_config(crops, tmp_path / "notes.txt"))
    with pytest.raises(TrainError, match=r"^--out \S+notes.txt/fam: cannot make the folder \(Not a directory\)$"):
        train_family(small_config(crops, tmp_path / "notes.txt" / "fam"))


def _refused_pickle(path: Path) -> None:
    torch.save({"config": Path("x")}, path)  # a pathlib object: refused by weights_only loading


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "cannot be read (PytorchStreamReader"),
        (_refused_pickle, "cannot be read (it holds objects that loading with weights_only refuses)"),
        (lambda p: torch.save([1, 2], p), "is not a checkpoint of bench train (not a dict)"),
        (lambda p: torch.save({"config": {}}, p), "is not a checkpoint of bench train (no model, optimizer"),
    ],
    ids=["truncated", "refused", "a list", "incomplete"],
)
def test_a_checkpoint_that_cannot_be_resumed_from_is_named_with_what_to_do(small_family, crops, tmp_path, damage, why):
    import shutil

    from bench.neural.train import TrainError, train_family

    family = tmp_path / "fam"
    shutil.copytree(small_family, family)
    (family / "checkpoints" / "lambda0.02.json").unlink()  # the model is unfinished: it resumes
    checkpoint = family / "checkpoints" / "lambda0.02.pt"
    damage(checkpoint)
    with pytest.raises(TrainError) as refused:
        train_family(small_config(crops, family))
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{checkpoint} {why}")
    assert message.endswith("delete it to train lambda0.02 again from the start, or use another --out")


def test_a_checkpoint_of_other_options_says_which(small_family, crops, tmp_path):
    import shutil

    from bench.neural.train import TrainError, train_family

    family = tmp_path / "fam"
    shutil.copytree(small_family, family)
    (family / "checkpoints" / "lambda0.02.json").unlink()
    with pytest.raises(TrainError, match=r"written by a different training setup \(lr 0.0001, not 0.001\); delete it"):
        train_family(small_config(crops, family, lr=1e-3))


def test_a_finished_model_is_not_claimed_trained_with_other_options(small_family, crops, tmp_path):
    import shutil

    from bench.neural.train import TrainError, train_family

    family = tmp_path / "fam"
    shutil.copytree(small_family, family)
    before = (family / "family.json").read_bytes()
    result = family / "checkpoints" / "lambda0.02.json"
    for written_before_options_were_recorded in (False, True):
        if written_before_options_were_recorded:
            result.write_text(json.dumps({k: v for k, v in json.loads(result.read_text()).items() if k != "options"}))
        with pytest.raises(TrainError) as refused:  # more steps: it would train nothing and say 4
            train_family(small_config(crops, family, steps=4))
        message = str(refused.value)
        assert "\n" not in message and message.startswith(f"{result}: lambda0.02 is finished, trained with --steps 2;")
        assert "this command asks for --steps 4" in message and "leave lambda 0.02 out of --lambdas" in message
        assert f"--init {family / 'lambda0.02.safetensors'}" in message
        assert (family / "family.json").read_bytes() == before
    train_family(small_config(crops, family))  # the same options: nothing to train, the family as it was
    assert [m["steps"] for m in json.loads((family / "family.json").read_text())["models"]] == [2]
