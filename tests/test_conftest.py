"""The suite's own helpers (tests/conftest.py, tests/http_server.py): a missing requirement skips locally
and fails under CI, at the top of a test file too (a collection error); the local HTTP server's answers
and failure modes; fake programs."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import conftest
from conftest import require_module

TESTS = Path(__file__).resolve().parent

# --- require_module ---------------------------------------------------------------------------------------


def test_require_module_returns_the_module():
    assert require_module("json", "a module that is there") is sys.modules["json"]


@pytest.mark.parametrize("in_ci", [False, True])
def test_a_module_that_cannot_be_imported_skips_locally_and_fails_under_ci(monkeypatch, in_ci):
    monkeypatch.setitem(sys.modules, "bjontegaard", None)  # as if it were not installed
    monkeypatch.setattr(conftest, "IN_CI", in_ci)
    outcome = pytest.fail.Exception if in_ci else pytest.skip.Exception
    with pytest.raises(outcome, match=r"bjontegaard cannot be imported .*: the reference BD-rate") as raised:
        require_module("bjontegaard", "the reference BD-rate")
    assert str(raised.value).startswith("required under CI: ") == in_ci


#: A test file that needs a module at its top, run with the module made unimportable.
NEEDS_A_MODULE = """
import sys

sys.modules["bjontegaard"] = None  # as if it were not installed

from conftest import require_module

bjontegaard = require_module("bjontegaard", "the reference BD-rate")


def test_uses_it():
    assert bjontegaard
"""


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_test_file_whose_module_is_missing_is_skipped_locally_and_fails_the_run_under_ci(tmp_path, ci):
    (tmp_path / "test_needs_a_module.py").write_text(textwrap.dedent(NEEDS_A_MODULE))
    (tmp_path / "test_other.py").write_text("def test_passes():\n    pass\n")
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(TESTS)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--rootdir",
                             str(tmp_path), str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=120)  # fmt: skip
    if ci:
        assert result.returncode != 0, result.stdout
        assert "1 error during collection" in result.stdout, result.stdout
        assert "required under CI: bjontegaard cannot be imported" in result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert "1 passed, 1 skipped" in result.stdout and "bjontegaard cannot be imported" in result.stdout


#: A test of what a program the suite starts does with SIGINT.
SEES_SIGINT = """
import subprocess
import sys


def test_a_program_started_by_a_test_handles_ctrl_c():
    handler = subprocess.run([sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT))"],
                             capture_output=True, text=True, check=True).stdout
    assert "default_int_handler" in handler
"""


def test_ctrl_c_reaches_the_programs_of_a_suite_started_with_sigint_ignored(tmp_path):
    (tmp_path / "test_sees_sigint.py").write_text(textwrap.dedent(SEES_SIGINT))
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                             "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
                            env=env, timeout=120, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # fmt: skip
    assert result.returncode == 0, result.stdout


# --- the local HTTP server ----------------------------------------------------------------------------------


def fetch(url: str) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET of ``url``; a body cut short raises ``http.client.IncompleteRead``."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_the_server_serves_files_from_memory_and_a_folder_and_records_every_request(http_server, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"from disk")
    server = http_server({"a.bin": b"in memory"}, folder=tmp_path, prefix="w")
    assert server.base.endswith("/w") and server.url("a.bin") == f"{server.base}/a.bin"
    assert fetch(server.url("a.bin")) == (200, b"in memory")
    assert fetch(server.url("sub/b.bin")) == (200, b"from disk")
    assert fetch(server.url("missing.bin"))[0] == 404
    assert fetch(server.url("../sub/b.bin"))[0] == 404  # nothing outside the folder
    assert fetch(server.base.removesuffix("/w") + "/a.bin")[0] == 404  # nothing outside the prefix
    assert server.requests == ["a.bin", "sub/b.bin", "missing.bin", "../sub/b.bin", "a.bin"]


def test_the_server_fails_as_its_mode_says(http_server):
    server = http_server({"a.bin": b"0123456789", "b.bin": b"abcdef"})
    server.modes["b.bin"] = 503
    server.mode = "truncated"
    with pytest.raises(http.client.IncompleteRead) as cut:
        fetch(server.url("a.bin"))
    assert cut.value.partial == b"01234"
    assert fetch(server.url("b.bin"))[0] == 503
    server.mode = "html"
    status, body = fetch(server.url("a.bin"))
    assert status == 200 and body.startswith(b"<html>")


# --- fake programs ------------------------------------------------------------------------------------------


def test_fake_programs_are_executable_shell_scripts(fake_program, tmp_path):
    program = fake_program("hello", 'echo "hello $1"')
    assert program == tmp_path / "hello" and program.read_text().startswith("#!/bin/sh\n")
    assert subprocess.run([program, "you"], capture_output=True, text=True).stdout == "hello you\n"
    elsewhere = fake_program("true", "#!/bin/sh\nexit 0\n", folder=tmp_path / "bin")
    assert elsewhere == tmp_path / "bin" / "true" and os.access(elsewhere, os.X_OK)
