"""File helpers (bench/api/files.py): codec names become folder names of their own."""

from __future__ import annotations


def test_codecs_named_by_a_path_save_their_files_in_one_folder_of_their_own():
    from bench.api.files import folder_name

    assert folder_name("jpeg") == "jpeg" and folder_name("compressai:mbt2018-mean") == "compressai:mbt2018-mean"
    for name in ("compressai:mbt2018:../../etc/*.pth.tar", "compressai:mbt2018:/abs/ckpts/", "..", "a b"):
        folder = folder_name(name)
        assert "/" not in folder and folder not in (".", "..") and not folder.startswith(".")
    assert folder_name("compressai:mbt2018:runs/a/") != folder_name("compressai:mbt2018:runs_a/")
