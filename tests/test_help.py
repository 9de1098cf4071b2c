"""``spp STAGE --help``: fields grouped by the class that declares them, allowed values read from the registries when
the help is printed, commands one per line, no empty defaults, positional arguments shown; every stage's help in
under 3 s on this machine (load permitting; ``benchmarks/cli_help.py`` prints the times)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

import pytest

from spp.arguments import help_fingerprint, load_values
from spp.cli import main as spp_main
from spp.stages import commands, get_stage

WITH_FIELDS = sorted(name for name, stage in commands().items() if stage.config_types)


def help_of(name: str, capsys) -> str:
    assert spp_main([name, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", WITH_FIELDS)
def test_help_lists_every_field_with_its_allowed_values_and_no_empty_default(name, capsys, monkeypatch):
    monkeypatch.setenv("SPP_HELP_CACHE", "0")
    text = help_of(name, capsys)
    assert text.startswith(f"usage: spp {name} ") and "--config RECIPE.yaml" in text
    for empty in ("(default: )", "(default: None)", "(default: [])", "(default: {})"):
        assert empty not in text, empty
    for config in get_stage(name).types():
        for field in dataclasses.fields(config):
            if not field.init:
                continue
            assert f"--{field.name} " in text or f"--{field.name}\n" in text or f"--{field.name}," in text, field.name
            if "values" in field.metadata:  # the registry's names now, as {a,b,c} after the option
                shown = "{" + ",".join(map(str, load_values(field.metadata["values"]))) + "}"
                assert f"--{field.name} {shown}" in text, (field.name, shown)
            if "known" in field.metadata:  # at the end of the help text (compared without the wrapping)
                known = f"Known: {', '.join(map(str, load_values(field.metadata['known'])))}."
                assert "".join(known.split()) in "".join(text.split()), (field.name, known)


@pytest.mark.parametrize("name", WITH_FIELDS)
def test_the_commands_of_a_stage_docstring_are_printed_one_per_line(name, capsys):
    lines = {line.strip() for line in help_of(name, capsys).splitlines()}
    examples = [line.strip() for line in get_stage(name).description().splitlines()
                if line.strip().startswith(("spp ", "accelerate launch "))]  # fmt: skip
    assert all(example in lines for example in examples), [e for e in examples if e not in lines]


def test_the_values_shown_come_from_the_registry_when_the_help_is_printed(capsys, monkeypatch):
    """A backend registered after import shows up: the help reads ``GENERATORS``, it holds no copy of it."""
    from spp.generate import base

    monkeypatch.setenv("SPP_HELP_CACHE", "0")
    monkeypatch.setitem(base.GENERATORS, "my-backend", "my.module:MyGenerator")
    text = help_of("augment", capsys)
    line = next(line for line in text.splitlines() if line.strip().startswith("--backend "))
    assert "my-backend" in line and "offline" in line and "openai" in line


def test_training_stages_group_their_own_fields_before_upstream_ones(capsys):
    text = help_of("sft", capsys)
    order = [text.index(f"\n{title}:\n") for title in ("SFT", "SFTConfig (trl)", "TrainingArguments (transformers)")]
    assert order == sorted(order)
    own = text[order[0] : order[1]]
    assert "--citation_stage {none,uncited,datasets}" in own and "--learning_rate" not in text[: order[0]]
    pretrain = help_of("pretrain", capsys)
    assert "--arm {" in pretrain and "spp_t0" in pretrain.split("--arm {", 1)[1].split("}", 1)[0]
    assert "--layout {dense,document}" in pretrain and "--plain_fill {reserve,full}" in pretrain


@pytest.mark.parametrize(("name", "argv", "field", "expected"), [
    ("download", ["org/model", "--to", "{tmp}/d"], "repo_id", "org/model"),
    ("checkpoints", ["release/model"], "repo_id", "release/model"),
    ("curves", ["a", "b", "--output_dir", "{tmp}/c"], "models", ["a", "b"]),
    ("compare", ["{tmp}", "{tmp}", "--output_dir", "{tmp}/c"], "results", ["{tmp}", "{tmp}"]),
    ("inspect", ["data/x.parquet"], "dataset", "data/x.parquet"),
    ("publish", ["dataset", "data/x", "--to_dir", "{tmp}/e"], "kind", "dataset"),
])  # fmt: skip
def test_positional_arguments_are_shown_and_fill_their_field(name, argv, field, expected, tmp_path, capsys):
    text = help_of(name, capsys)
    assert "positional arguments:" in text and f"{field.upper()}" in text.split("\n")[0]
    tmp = str(tmp_path)
    argv = [a.replace("{tmp}", tmp) for a in argv]
    expected = expected.replace("{tmp}", tmp) if isinstance(expected, str) else [e.replace("{tmp}", tmp) for e in expected]
    (config,) = get_stage(name).parse(argv)
    assert getattr(config, field) == expected
    if len(get_stage(name).positional) == 1:  # the option still works
        values = [expected] if isinstance(expected, str) else expected
        (config,) = get_stage(name).parse([f"--{field}", *values, *argv[len(values) :]])
        assert getattr(config, field) == expected
    else:  # publish KIND PATH
        assert config.path == argv[1]


def test_the_help_cache_is_the_rendered_text_and_changes_with_what_it_depends_on(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SPP_CACHE", str(tmp_path))
    first = help_of("eval", capsys)
    cached = list((tmp_path / "help").glob("eval-*.txt"))
    assert len(cached) == 1 and cached[0].read_text() == first
    monkeypatch.setenv("SPP_HELP_CACHE", "0")
    assert help_of("eval", capsys) == first  # rendered again: the same text
    key = help_fingerprint("eval")
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps to the terminal: another width is another text
    assert help_fingerprint("eval") != key
    monkeypatch.delenv("COLUMNS")
    source = get_stage("eval").types()[0].__module__.replace(".", "/") + ".py"
    path = next(p for p in map(os.path.abspath, sys.path) if os.path.isfile(os.path.join(p, source)))
    stat = os.stat(os.path.join(path, source))
    os.utime(os.path.join(path, source), ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    try:
        assert help_fingerprint("eval") != key  # an edited source renders it again
    finally:
        os.utime(os.path.join(path, source), ns=(stat.st_atime_ns, stat.st_mtime_ns))


# Stages whose help imports torch to be rendered: transformers' TrainingArguments (pretrain, sft). They meet the
# 3 s once their text is cached.
IMPORTS_TORCH = {"pretrain", "sft"}


@pytest.mark.slow
def test_every_stage_help_takes_under_3_seconds(tmp_path):
    cores = os.cpu_count() or 1
    if os.getloadavg()[0] > cores:
        pytest.skip(f"load average {os.getloadavg()[0]:.1f} is above the {cores} cores: timings would not be this "
                    "machine's (benchmarks/cli_help.py prints them)")  # fmt: skip
    env = {**os.environ, "SPP_CACHE": str(tmp_path), "SPP_HELP_CACHE": "1"}
    slow = []
    for name in sorted(commands()):
        for attempt in ("cold", "warm"):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "spp", name, "--help"], env=env, capture_output=True)
            seconds = time.perf_counter() - start
            assert done.returncode == 0 and b"usage:" in done.stdout, (name, done.stderr[-2000:])
            if seconds >= 3 and (attempt == "warm" or name not in IMPORTS_TORCH):
                slow.append(f"{name} ({attempt}): {seconds:.2f} s")
    assert not slow, f"over 3 s at load {os.getloadavg()[0]:.1f}: {slow}"


def test_the_attack_methods_named_without_importing_them_are_the_ones_their_modules_register():
    """``spp attack --help`` lists the built-in methods without importing torch; the names must be the real ones."""
    from spp.attack.registry import ATTACK_METHODS, BUILTIN_METHODS, get_method, method_names

    for name, module in BUILTIN_METHODS.items():
        assert get_method(name).optimize.__module__ == module
    assert method_names() == sorted(ATTACK_METHODS)
