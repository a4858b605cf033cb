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
