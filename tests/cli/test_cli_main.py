"""The ``bench`` command as a whole: what every command shares."""

from __future__ import annotations

import pytest

import bench.cli
from bench.api.processes import Terminated
from bench.cli import main


@pytest.mark.parametrize(
    ("signal", "status", "said"), [(KeyboardInterrupt, 130, "interrupted"), (Terminated, 143, "terminated (SIGTERM)")]
)
def test_a_signal_in_a_command_without_its_own_handling_is_one_line_and_its_conventional_status(
    monkeypatch, capsys, signal, status, said
):
    def interrupted(args):
        raise signal  # what Ctrl-C (or SIGTERM, where caught) raises in the middle of, say, `bench anchors --fetch`

    monkeypatch.setattr(bench.cli.COMMANDS["anchors"], "handle", interrupted)
    assert main(["anchors"]) == status
    assert capsys.readouterr().err == f"bench anchors: {said}\n"


def test_version_prints_the_version_and_the_commit_of_the_checkout(capsys):
    import subprocess

    from bench import __version__
    from conftest import REPO

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert printed.startswith(f"codec-bench {__version__} (commit {commit[:12]}")


def test_an_installed_package_without_a_checkout_reports_the_commit_its_build_recorded(tmp_path, monkeypatch):
    import json

    import bench.store.provenance as provenance

    package = tmp_path / "site" / "bench"
    package.mkdir(parents=True)
    (package / provenance.BUILD_RECORD).write_text(json.dumps({"commit": "ab" * 20, "dirty": False}))
    monkeypatch.setattr(provenance, "__file__", str(package / "store" / "provenance.py"))
    assert provenance.git_state() == {"commit": "ab" * 20, "dirty": False, "source": "build"}
    assert provenance.version_text().endswith(f"(commit {'ab' * 6})")
    (package / provenance.BUILD_RECORD).unlink()
    assert provenance.git_state() == {"commit": None, "dirty": None}
    assert "commit unknown" in provenance.version_text()
