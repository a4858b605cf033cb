"""The ``bench`` command as a whole: what every command shares."""

from __future__ import annotations

import bench.cli
from bench.cli import EXIT_INTERRUPTED, main


def test_ctrl_c_in_a_command_without_its_own_handling_is_one_line_and_status_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of, say, a download of `bench anchors --fetch`

    monkeypatch.setattr(bench.cli.COMMANDS["anchors"], "handle", interrupted)
    assert main(["anchors"]) == EXIT_INTERRUPTED == 130
    err = capsys.readouterr().err
    assert err == "bench anchors: interrupted\n"
