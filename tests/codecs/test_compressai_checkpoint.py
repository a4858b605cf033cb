"""Any CompressAI checkpoint is a codec (bench_codecs/compressai_checkpoint.py), no code:
``bench run --codec compressai:<arch>:<path>``.

The checkpoints are trained here for a few steps with CompressAI's own pieces, the way its
``examples/train.py`` trains and saves them (the pip package has no ``examples/``), and measured
against CompressAI's own ``python -m compressai.utils.eval_model checkpoint`` on the same images.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.api.codec_registry import discover
from bench.neural.bitstream import unpack
from conftest import bench_cli, require_module

torch = require_module("torch", "trains the checkpoints")
require_module("compressai", "the checkpoints' models and its eval_model")


ARCH = "bmshj2018-hyperprior"


CLASS = "bench_codecs.compressai_checkpoint.Checkpoints_bmshj2018_hyperprior"


# Named so that their paths sort against their rates (0.1 gives the higher rate): an order by path fails.
LAMBDAS = {"checkpoint_lmbda100e-3.pth.tar": 0.1, "checkpoint_lmbda18e-4.pth.tar": 0.0018}


def configure_optimizers(net, learning_rate: float, aux_learning_rate: float):
    """examples/train.py's: Adam on the main parameters, another Adam on the entropy bottleneck's quantiles."""
    parameters = {n for n, p in net.named_parameters() if not n.endswith(".quantiles") and p.requires_grad}
    aux_parameters = {n for n, p in net.named_parameters() if n.endswith(".quantiles") and p.requires_grad}
    params_dict = dict(net.named_parameters())
    assert not parameters & aux_parameters and parameters | aux_parameters == set(params_dict)
    optimizer = torch.optim.Adam((params_dict[n] for n in sorted(parameters)), lr=learning_rate)
    aux_optimizer = torch.optim.Adam((params_dict[n] for n in sorted(aux_parameters)), lr=aux_learning_rate)
    return optimizer, aux_optimizer


def train_py_checkpoint(lmbda: float, images: list[Image.Image], steps: int = 25) -> dict:
    """One epoch of examples/train.py (train_one_epoch, test_epoch, lr_scheduler.step) and the dict its
    save_checkpoint writes. Smaller than train.py's defaults for speed: N=32, M=48 (train.py: the zoo's
    quality-3 model), 64x64 random crops, batches of 4, learning rate 1e-3 (its -lr option)."""
    from compressai.losses import RateDistortionLoss
    from compressai.zoo.image import model_architectures
    from torchvision import transforms

    torch.manual_seed(0)
    net = model_architectures[ARCH](N=32, M=48)
    optimizer, aux_optimizer = configure_optimizers(net, 1e-3, 1e-3)
    lr_scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    criterion = RateDistortionLoss(lmbda=lmbda)
    train_transforms = transforms.Compose([transforms.RandomCrop(64), transforms.ToTensor()])
    net.train()
    for step in range(steps):  # train_one_epoch
        d = torch.stack([train_transforms(images[(step + k) % len(images)]) for k in range(4)])
        optimizer.zero_grad()
        aux_optimizer.zero_grad()
        out_criterion = criterion(net(d), d)
        out_criterion["loss"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        aux_loss = net.aux_loss()
        aux_loss.backward()
        aux_optimizer.step()
    net.eval()
    with torch.no_grad():  # test_epoch: the average loss (a tensor) on center crops
        d = torch.stack([transforms.ToTensor()(transforms.CenterCrop(64)(im)) for im in images])
        loss = criterion(net(d), d)["loss"]
    lr_scheduler.step(loss)
    return {
        "epoch": 0,
        "state_dict": net.state_dict(),
        "loss": loss,
        "optimizer": optimizer.state_dict(),
        "aux_optimizer": aux_optimizer.state_dict(),
        "lr_scheduler": lr_scheduler.state_dict(),
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, kodak_dir) -> Path:
    """``ckpts/``: two train.py checkpoints of different lambdas; ``images/``: a 256x192 Kodak crop and a
    201x171 one (padded by 55 and 21: odd, off-centre halves). eval_model needs sides over 160 (MS-SSIM)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    (folder / "ckpts").mkdir()
    torch.set_num_threads(1)
    patches = [Image.open(kodak_dir / f"kodim{i:02d}.png").convert("RGB") for i in (1, 2, 3, 4)]
    for name, lmbda in LAMBDAS.items():
        torch.save(train_py_checkpoint(lmbda, patches), folder / "ckpts" / name)  # save_checkpoint
    (folder / "images").mkdir()
    kodim = lambda i: np.asarray(Image.open(kodak_dir / f"kodim{i:02d}.png").convert("RGB"))  # noqa: E731
    Image.fromarray(np.ascontiguousarray(kodim(5)[:192, :256])).save(folder / "images" / "a.png")
    Image.fromarray(np.ascontiguousarray(kodim(7)[100:271, 300:501])).save(folder / "images" / "b.png")
    return folder


def spec(path: str | Path) -> str:
    return f"compressai:{ARCH}:{path}"


def test_a_folder_of_train_py_checkpoints_measures_what_eval_model_measures(workdir, tmp_path):
    paths = [workdir / "ckpts" / name for name in LAMBDAS]
    eval_model = subprocess.Popen(
        [sys.executable, "-m", "compressai.utils.eval_model", "checkpoint", str(workdir / "images"), "-a", ARCH,
         "-p", *map(str, paths)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    name = spec("ckpts")  # a path relative to the run's folder, as a user types it
    run = bench_cli("run", "--dataset", "images", "--codec", name, "--out", str(tmp_path / "run"), "-j", "1",
                    "--save-bitstreams", "--no-report", "--metrics", "psnr_rgb", cwd=workdir)  # fmt: skip
    stdout, stderr = eval_model.communicate(timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert eval_model.returncode == 0, stderr[-2000:]
    reference = json.loads(stdout)["results"]  # means over the images, one per checkpoint in -p order
    with open(tmp_path / "run" / "failures.csv") as fh:
        assert list(csv.DictReader(fh)) == []  # the fresh-process decode check resolved the name too
    codec = json.loads((tmp_path / "run" / "run.json").read_text())["codecs"][name]
    assert codec["class"] == CLASS
    order = [Path(c["path"]).name for c in codec["settings"]["checkpoints"]]
    assert order == sorted(LAMBDAS, key=LAMBDAS.get)  # quality 1 = lowest rate

    with open(tmp_path / "run" / "records.csv") as fh:
        records = list(csv.DictReader(fh))
    for quality, checkpoint in enumerate(order, start=1):
        rows = [r for r in records if r["quality"] == str(quality)]
        assert len(rows) == 2
        psnr = np.mean([float(r["psnr_rgb"]) for r in rows])
        bpp = np.mean([8 * int(r["bytes"]) / (int(r["width"]) * int(r["height"])) for r in rows])
        header_bpp = []
        for r in rows:
            data = (tmp_path / "run" / "bitstreams" / name / str(quality) / f"{Path(r['image']).stem}.cbn").read_bytes()
            assert len(data) == int(r["bytes"])
            _, groups = unpack(data)
            header_bytes = len(data) - sum(len(s) for group in groups for s in group)
            header_bpp.append(8 * header_bytes / (int(r["width"]) * int(r["height"])))
        i = list(LAMBDAS).index(checkpoint)
        psnr_diff, bpp_diff = psnr - reference["psnr-rgb"][i], bpp - (reference["bpp"][i] + np.mean(header_bpp))
        print(f"quality {quality} ({checkpoint}): psnr_rgb {psnr:.6f} dB, eval_model {reference['psnr-rgb'][i]:.6f} "
              f"(diff {psnr_diff:.1e}); bpp - header {bpp - np.mean(header_bpp):.12f}, eval_model "
              f"{reference['bpp'][i]:.12f} (diff {bpp_diff:.1e})")  # fmt: skip
        assert abs(psnr_diff) < 1e-4
        assert abs(bpp_diff) < 1e-9
    assert reference["bpp"][list(LAMBDAS).index(order[0])] < reference["bpp"][list(LAMBDAS).index(order[1])]


def _variants(workdir: Path, folder: Path) -> dict[str, Path]:
    """The same weights as a safetensors file, a zoo-style plain state dict (one with DataParallel's
    ``module.`` prefix) and eval_model's other keys (``network``, ``model_state_dict``)."""
    from safetensors.torch import save_file

    out = {kind: folder / kind for kind in ("safetensors", "plain", "keys")}
    for path in out.values():
        path.mkdir()
    for i, name in enumerate(LAMBDAS):
        state = torch.load(workdir / "ckpts" / name, map_location="cpu", weights_only=True)["state_dict"]
        stem = name.removesuffix(".pth.tar")
        save_file(state, out["safetensors"] / f"{stem}.safetensors")
        torch.save(
            {("module." if i else "") + k: v for k, v in state.items()}, out["plain"] / f"{stem}-0123abcd.pth.tar"
        )
        torch.save({["network", "model_state_dict"][i]: state, "epoch": 3}, out["keys"] / f"{stem}.ckpt")
    return out


def test_safetensors_and_plain_state_dicts_give_the_same_bitstreams(workdir, tmp_path):
    registry = discover(use_entry_points=False)
    image = np.asarray(Image.open(workdir / "images" / "b.png"))
    reference = registry.get(spec(workdir / "ckpts")).create()
    assert reference.unavailable_reason() is None
    for kind, folder in _variants(workdir, tmp_path).items():
        codec = registry.get(spec(folder)).create()
        assert codec.unavailable_reason() is None, kind
        for quality in (1, 2):
            ours, theirs = unpack(codec.encode(image, quality)), unpack(reference.encode(image, quality))
            assert ours[1] == theirs[1], f"{kind}, quality {quality}: other strings"
            assert ours[0].model_id == bytes.fromhex(codec.checkpoints()[quality - 1].sha256[:8])  # the file's hash
            assert (ours[0].quality, ours[0].height, ours[0].width) == (quality, 171, 201)
            assert codec.decode(codec.encode(image, quality)).shape == image.shape


def test_a_glob_or_a_single_file_names_the_checkpoints(workdir):
    registry = discover(use_entry_points=False)
    folder = registry.get(spec(workdir / "ckpts")).cls
    by_glob = registry.get(spec(workdir / "ckpts" / "*.pth.tar")).cls
    single = registry.get(spec(workdir / "ckpts" / "checkpoint_lmbda100e-3.pth.tar")).cls
    for cls in (folder, by_glob, single):
        assert cls.unavailable_reason() is None
        assert f"{cls.__module__}.{cls.__qualname__}" == CLASS  # the same identity whatever the path
    assert [c.sha256 for c in by_glob.checkpoints()] == [c.sha256 for c in folder.checkpoints()]
    assert (single.knob.low, single.knob.high) == (1, 1)
    assert single.checkpoints()[0].sha256 == folder.checkpoints()[1].sha256  # the higher-rate one
    assert discover(use_entry_points=False).get(by_glob.name).cls is by_glob  # made once per process
    assert registry.get(f"compressai:{ARCH}").cls.__module__ == "bench_codecs.compressai_zoo"  # exact names win
    image = np.asarray(Image.open(workdir / "images" / "a.png"))
    assert unpack(single().encode(image, 1))[1] == unpack(by_glob().encode(image, 2))[1]


class NotAWeight:
    """A custom class: a checkpoint holding an instance needs code to be unpickled."""


def test_unusable_checkpoints_are_one_line_errors_naming_the_file(workdir, tmp_path):
    from compressai.zoo.image import model_architectures

    factorized = tmp_path / "factorized.pth.tar"
    torch.save(model_architectures["bmshj2018-factorized"](8, 8).state_dict(), factorized)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    custom = tmp_path / "custom.pth.tar"
    torch.save({"state_dict": {}, "config": NotAWeight()}, custom)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no checkpoint here")
    expected = {
        spec(factorized): [str(factorized), f"does not fit {ARCH}", "19 missing"],
        spec(garbage): [str(garbage), "not a readable PyTorch checkpoint"],
        spec(custom): [str(custom), "refused", f"{__name__}.NotAWeight"],
        spec(tmp_path / "empty"): [str(tmp_path / "empty"), "no checkpoint there"],
        spec(tmp_path / "nothing-*.pth"): [str(tmp_path / "nothing-*.pth"), "no checkpoint there"],
        spec(tmp_path / "missing.pth"): [str(tmp_path / "missing.pth"), "no such file or folder"],
        f"compressai:no-such-arch:{workdir / 'ckpts'}": ["'no-such-arch'", ARCH],
    }
    registry = discover(use_entry_points=False)
    for name, parts in expected.items():
        reason = registry.get(name).unavailable_reason()
        assert reason is not None and "\n" not in reason and all(p in reason for p in parts), (name, reason)


class RunsCode:
    """Unpickling this runs ``exec`` of code that creates the file ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_a_checkpoint_that_would_run_code_stops_bench_run_without_running_it(workdir, tmp_path):
    from bench.run.runner import RunConfig, RunSetupError, run

    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil" / "checkpoint.pth.tar"
    evil.parent.mkdir()
    checkpoint = torch.load(workdir / "ckpts" / next(iter(LAMBDAS)), map_location="cpu", weights_only=True)
    torch.save({**checkpoint, "args": RunsCode(marker)}, evil)
    config = RunConfig(dataset=str(workdir / "images"), codecs=(spec(evil.parent),), out=tmp_path / "run")
    with pytest.raises(RunSetupError) as refused:  # bench run's exit status 2, this message on one line
        run(config, progress=False)
    message = str(refused.value)
    assert "\n" not in message and str(evil) in message and "refused" in message and "exec" in message, message
    assert not marker.exists()
    torch.load(evil, map_location="cpu", weights_only=False)  # what an unrestricted load does: runs it
    assert marker.exists()


def test_a_factorized_checkpoint_pads_to_64_and_decodes_odd_sizes(workdir, tmp_path):
    """eval_model pads every architecture to a multiple of 64, also the factorized prior, whose latents
    are 1/16 of the padded image: the decoder must give decompress() that latent shape."""
    from compressai.zoo.image import model_architectures

    torch.manual_seed(0)
    net = model_architectures["bmshj2018-factorized"](N=16, M=24)
    torch.save({"state_dict": net.state_dict(), "epoch": 0}, tmp_path / "factorized.pth.tar")
    cls = discover(use_entry_points=False).get(f"compressai:bmshj2018-factorized:{tmp_path / 'factorized.pth.tar'}").cls
    assert cls.unavailable_reason() is None
    image = np.asarray(Image.open(workdir / "images" / "b.png"))  # 171 x 201: padded to 192 x 256
    encoder, decoder = cls(), cls()
    data = encoder.encode(image, 1)
    decoded = decoder.decode(data)
    assert decoded.shape == image.shape and np.array_equal(decoded, encoder.decode(data))
    assert encoder.settings()["padding"].startswith("zeros, centred, to a multiple of 64")


def test_half_precision_codes_in_float16_and_says_so(workdir, tmp_path):
    """--half (as eval_model --half): the model and the image in float16; recorded in the settings."""
    cls = discover(use_entry_points=False).get(spec(workdir / "ckpts")).cls
    image = np.asarray(Image.open(workdir / "images" / "a.png"))
    full, half = cls(), cls(half=True)
    data = half.encode(image, 2)
    assert next(half.model(2).parameters()).dtype == torch.float16
    assert next(full.model(2).parameters()).dtype == torch.float32
    decoded = cls(half=True).decode(data)
    assert decoded.shape == image.shape
    assert abs(float(np.mean((decoded.astype(float) - image) ** 2)) - np.mean((full.decode(full.encode(image, 2)).astype(float) - image) ** 2)) < 5  # fmt: skip
    assert half.settings()["precision"] == "float16" and full.settings()["precision"] == "float32"
    assert half.analyze(image, 2)["estimated_bits"] > 0
    out = tmp_path / "run"
    run = bench_cli("run", "--dataset", str(workdir / "images"), "--codec", spec(workdir / "ckpts"), "--half",
                    "--quality", "1", "--max-images", "1", "--out", str(out), "--no-report")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["half"] is True
    assert info["codecs"][spec(workdir / "ckpts")]["settings"]["precision"] == "float16"
