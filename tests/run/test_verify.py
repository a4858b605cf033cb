"""`bench verify` (bench/run/verify.py): bitstreams decode identically in fresh processes; a desync
told from float means computed slightly differently."""

from __future__ import annotations

import numpy as np

from conftest import bench_cli


def test_verify_decodes_identically_in_a_fresh_process(tiny_family, small_dataset):
    result = bench_cli("verify", "tiny", "--plugin", str(tiny_family / "plugin.py"), "--dataset", str(small_dataset),
                       "--max-images", "2")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "MISMATCH" not in out and "DESYNC" not in out
    # the measuring setting and the CPU's perturbations, each in its own fresh process
    assert "4 of 4 identical  tiny: encoded on cpu, decoded on cpu (as bench run measures" in out
    assert "decoded on cpu (1 thread, oneDNN off)" in out and "threads, oneDNN off)" in out
    assert "summary of tiny: 4 files, decoded 16 times in fresh processes" in out
    assert "decodable everywhere: yes; entropy-decoded symbols identical in 16 of 16 decodes" in out


def test_verify_passes_on_a_portable_family(mean_scale_family, small_dataset):
    result = bench_cli("verify", "tinyms", "--plugin", str(mean_scale_family / "plugin.py"), "--dataset",
                       str(small_dataset), "--max-images", "2")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISMATCH" not in result.stdout and "DESYNC" not in result.stdout
    assert "decodable everywhere: yes; entropy-decoded symbols identical in 16 of 16 decodes" in result.stdout


def test_verify_tells_a_desync_from_float_means_computed_slightly_differently():
    """A float mean-scale model's y_hat = symbol + mean: in another setting the means can differ in
    their last bits with every symbol identical (decodable); a symbol that differs is a desync."""
    from bench.run.verify import SYMBOL_STEP, _compare

    pixels = np.zeros((4, 4, 3), np.uint8)
    y_hat = np.array([[1.25, -2.5], [0.0, 3.0625]], np.float32)
    same = _compare((pixels, y_hat), (pixels, y_hat.copy()))
    assert not same.desync and same.latents_off == 0
    means_off = _compare((pixels, y_hat), (pixels, y_hat + np.float32(3e-6)))
    assert not means_off.desync and means_off.latents_off == 4 and means_off.latents_max_off < SYMBOL_STEP
    other_symbol = y_hat.copy()
    other_symbol[0, 1] -= 1
    desync = _compare((pixels, y_hat), (pixels, other_symbol))
    assert desync.desync and desync.latents_differ == 1


def test_a_decoding_process_that_fails_stops_verify_with_its_error_and_leaves_no_process(tmp_path, small_dataset):
    """A plugin that loads in the encoding process only: every fresh decoding process fails; bench verify says
    which and why, and the decoding processes started beside it are gone."""
    import os
    import textwrap

    from bench.run.verify import VerifyConfig, VerifyError, verify

    plugin = tmp_path / "only_here.py"
    plugin.write_text(textwrap.dedent('''
        import sys
        from bench.api.codec import register_codec
        from bench_codecs.jpeg import JpegCodec

        if "pytest" not in sys.modules:
            raise RuntimeError("this plugin loads under pytest only")

        @register_codec
        class OnlyHere(JpegCodec):
            name = "only-here"
            uses_device = True  # checked as learned codecs are: the perturbed settings, side by side

            def __init__(self, device="cpu", half=False):
                super().__init__()
    '''))  # fmt: skip
    before = set(os.listdir("/proc"))
    try:
        verify(VerifyConfig(codec="only-here", dataset=str(small_dataset), max_images=1, qualities=(50.0,),
                            plugins=(str(plugin),)))  # fmt: skip
    except VerifyError as exc:
        assert str(exc).startswith("the decoding process (cpu (as bench run measures)) failed: ")
        assert str(exc).endswith("RuntimeError: this plugin loads under pytest only")
    else:
        raise AssertionError("verify passed with decoding processes that cannot load the codec")
    children = [p for p in set(os.listdir("/proc")) - before if p.isdigit()
                and os.path.exists(f"/proc/{p}/status") and f"PPid:\t{os.getpid()}\n" in open(f"/proc/{p}/status").read()]  # fmt: skip
    assert children == []
