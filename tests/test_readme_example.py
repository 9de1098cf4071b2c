"""The README's Python API example runs: the fenced ```python block under ``## Python API`` in README.md.

Until README.md has that heading, the example below (the text handed to the README's author) is run instead.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
HEADING = "## Python API"

EXAMPLE = """\
from spp.experiment import build_plan, load_experiment, run_experiment

# The embedded tiny study (what `spp demo` runs), written somewhere else and planned, not run:
config = load_experiment("demo", output_dir="outputs/api-demo", arms=["baseline", "spp_t0"])
for step in build_plan(config):
    print(f"{step.name:<18} {step.hash[:12]}  ->  {', '.join(step.outputs.values())}")
run_experiment(load_experiment("demo", output_dir="outputs/api-demo", dry_run=True))

# The published study: the plan with tokens and GPU-hours from benchmarks/throughput.json
paper = load_experiment("recipes/experiments/paper_1.7b.yaml", dry_run=True, recipe_dir=".")
run_experiment(paper)
"""


def readme_example(text: str) -> str | None:
    """The first ```python block under the ``## Python API`` heading, or ``None`` when there is no such heading."""
    if HEADING not in text:
        return None
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"README.md has {HEADING!r} but no ```python block under it"
    return match.group(1)


def test_readme_python_api_example_runs(monkeypatch, capsys):
    code = readme_example(README.read_text(encoding="utf-8")) if README.is_file() else None
    code = code or EXAMPLE
    repo = README.parent
    monkeypatch.chdir(repo)
    exec(compile(code, f"{README}:{HEADING}", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "pretrain-spp_t0" in out and "GPU-hours" in out
    assert not (repo / "outputs" / "api-demo").exists()  # planning and dry runs write nothing
