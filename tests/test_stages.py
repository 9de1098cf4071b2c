"""One stage registry (``spp.stages``) serves the CLI and ``spp experiment``: every target resolves, every stage has a
summary, every step of a shipped experiment names a registered stage, and a generated main turns a result into
an exit code."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from spp import stages
from spp.cli import main as spp_main

SRC = Path(__file__).parents[1] / "src" / "spp"


def test_the_cli_keeps_no_registry_of_its_own():
    """The acceptance line: ``grep -n "STAGES\\b" src/spp/cli.py`` finds nothing; the CLI asks ``spp.stages``."""
    assert not re.search(r"STAGES\b", (SRC / "cli.py").read_text())
    assert set(stages.commands()) <= set(stages.STAGES)


@pytest.mark.parametrize("name", sorted(stages.STAGES))
def test_every_target_resolves_and_every_stage_says_what_it_did(name):
    stage = stages.STAGES[name]
    if stage.main_target is not None:  # a CLI of its own (experiment, demo) runs spp experiment
        assert callable(stages.load_target(stage.main_target))
    else:
        assert callable(stage.function())
    if stage.command and stage.main_target is None:
        assert stage.summary_target is not None, f"spp {name} prints nothing about its result"
        assert callable(stages.load_target(stage.summary_target))
        assert f"``spp {name}" in stage.description().splitlines()[0], "its --help text is another module's"
    if stage.config_types:
        assert all(dataclasses.is_dataclass(t) for t in stage.types())
    for field in stage.positional:
        assert field in {f.name for t in stage.types() for f in dataclasses.fields(t)}, field


def test_every_step_of_the_shipped_experiments_names_a_registered_stage(tmp_path, monkeypatch):
    from spp.experiment import build_plan, load_experiment

    monkeypatch.chdir(SRC.parents[1])
    for recipe in sorted((SRC.parents[1] / "recipes" / "experiments").glob("*.yaml")):
        for step in build_plan(load_experiment(recipe, output_dir=str(tmp_path))):
            stage = stages.step_stage(step.stage)
            assert stage.run_target is not None, (recipe.name, step.name)
    mapped = {s.step: name for name, s in stages.STAGES.items() if s.step}
    assert mapped == {"score": "score-harm", "import": "import-reflections", "bind": "bind-data"}
    with pytest.raises(KeyError, match="known: "):
        stages.step_stage("nope")


@dataclasses.dataclass
class _Args:
    value: int = 1


@dataclasses.dataclass
class _Result:
    value: int
    failure: str | None = None


def _run(args: _Args) -> _Result:
    return _Result(args.value, failure="3 of 4 shards failed" if args.value == 4 else None)


def _summary(result: _Result) -> str:
    return f"did {result.value}"


def test_a_generated_main_prints_the_summary_and_exits_3_with_the_rerun_line_on_a_failure(monkeypatch, capsys):
    stage = stages.Stage("toy", "a toy stage", config_types=(_Args,), run_target=_run, summary_target=_summary)
    monkeypatch.setitem(stages.STAGES, "toy", stage)
    main = stages.stage_main("toy")
    assert main(["--value", "2"]) == 0
    assert capsys.readouterr().out == "did 2\n"
    assert spp_main(["toy", "--value", "4"]) == 3
    captured = capsys.readouterr()
    assert captured.out == "did 4\n"
    assert captured.err == "spp toy: 3 of 4 shards failed\nrerun: spp toy --value 4\n"
    assert spp_main(["toy", "--value", "x"]) == 2  # bad input: one paragraph, exit 2
    assert "spp toy: error:" in capsys.readouterr().err


def test_an_incomplete_run_exits_3_naming_what_is_missing(monkeypatch, capsys):
    from spp.eval.judges import JudgingIncomplete

    def judge(args: _Args) -> _Result:
        raise JudgingIncomplete("2 of 20 judge answers unparsed")

    stage = stages.Stage("judgy", "a toy stage", config_types=(_Args,), run_target=judge, summary_target=_summary)
    monkeypatch.setitem(stages.STAGES, "judgy", stage)
    assert spp_main(["judgy"]) == 3
    assert capsys.readouterr().err == "spp judgy: judging incomplete: 2 of 20 judge answers unparsed\n"


def test_a_registered_stage_is_a_command_and_an_experiment_step(monkeypatch, capsys):
    monkeypatch.setattr(stages, "STAGES", dict(stages.STAGES))
    stages.register_stage(stages.Stage("toy", "a toy stage", config_types=(_Args,), run_target=_run,
                                       summary_target=_summary, step="toy_step"))  # fmt: skip
    assert spp_main(["--help"]) == 0 and "toy" in capsys.readouterr().out
    assert stages.step_stage("toy_step") is stages.STAGES["toy"]
