"""The README's "Use the released models" commands name fields that exist (parsed as the CLI parses them, nothing
run; the Figure-1 dry run itself is tests/experiment/test_released_recipe.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).parents[1]
HEADING = "## Use the released models"


def _commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert HEADING in text.split("## What is here", 1)[0], "the section must stay near the top, before 'What is here'"
    block = re.search(r"```bash\n(.*?)```", text.split(HEADING, 1)[1], re.S).group(1)
    lines = [line.split("#", 1)[0] if line.lstrip().startswith("#") else line for line in block.splitlines()]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip().startswith("spp ")]


def test_the_three_commands_parse(monkeypatch):
    from spp.eval.config import EvalConfig
    from spp.eval.curves import CurvesConfig
    from spp.experiment.config import ExperimentConfig
    from spp.recipes import parse_config

    monkeypatch.chdir(REPO)
    commands = _commands()
    assert [c[1] for c in commands] == ["eval", "experiment", "curves"]
    types = {"eval": EvalConfig, "experiment": ExperimentConfig, "curves": CurvesConfig}
    for command in commands:
        argv = command[2:]
        while argv and not argv[0].startswith("-"):
            argv = argv[1:]  # curves' positional models
        # as each CLI parses: the experiment leaves placeholders to its dry run, which lists them under "needs a value"
        check = command[1] != "experiment"
        (config,) = parse_config([types[command[1]]], argv, prog=f"spp {command[1]}", check=check)
        assert config is not None
