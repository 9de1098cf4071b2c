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


def test_the_cli_drops_only_the_import_noise_it_names():
    """torchao's CUDA-kernel and Triton lines (on a machine without CUDA) and torch's Enum deprecation are dropped;
    any other warning of the same loggers still shows."""
    import logging

    import torch

    from spp.cli import setup_logging

    setup_logging()
    shown: list[str] = []
    collect = logging.Handler()
    collect.emit = lambda record: shown.append(record.getMessage())
    names = ("torchao", "torchao.kernel.intmm", "torch.utils._pytree")
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:  # torch's loggers do not propagate to the root: listen on each
        logger.addHandler(collect)
    try:
        loggers[0].warning("Failed to load /x/_C_mxfp8.so: Could not load this library")
        loggers[1].warning("Warning: Detected no triton, on systems without Triton certain kernels will not work")
        loggers[2].warning("%s is an Enum subclass and is now natively supported by torch.compile", "<enum E>")
        loggers[0].warning("float8 recipe changed")
        loggers[2].warning("something else")
    finally:
        for logger in loggers:
            logger.removeHandler(collect)
    expected = {"float8 recipe changed", "something else"}
    if torch.cuda.is_available():  # the CUDA-kernel lines are real news on a GPU machine
        expected |= {"Failed to load /x/_C_mxfp8.so: Could not load this library"}
        expected |= {"Warning: Detected no triton, on systems without Triton certain kernels will not work"}
    assert set(shown) == expected, shown  # a set: a child's record also reaches its parent's handler
