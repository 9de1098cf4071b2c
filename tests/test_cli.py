"""The ``spp`` command: every registered stage answers ``--help`` with its fields, unknown stages exit 2."""

from __future__ import annotations

import pytest

from spp.cli import main
from spp.stages import commands


@pytest.mark.parametrize("stage", sorted(commands()))
def test_every_stage_prints_its_help(stage, capsys):
    try:
        code = main([stage, "--help"])
    except SystemExit as exit_info:  # argparse exits after printing help
        code = exit_info.code
    assert code == 0
    out = capsys.readouterr().out
    assert "usage:" in out


def test_top_level_help_lists_every_stage(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in commands())


def test_unknown_stage_exits_2_naming_the_known_ones(capsys):
    assert main(["nope"]) == 2
    assert "augment" in capsys.readouterr().err
