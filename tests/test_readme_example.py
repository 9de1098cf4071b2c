"""The README's Python API example runs as written: the fenced ```python block under ``## Python API``."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
HEADING = "## Python API"


def readme_example(text: str) -> str:
    """The first ```python block under the ``## Python API`` heading."""
    assert HEADING in text, f"README.md lost its {HEADING!r} section"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"README.md has {HEADING!r} but no ```python block under it"
    return match.group(1)


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    code = readme_example(README.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(code, f"{README}:{HEADING}", "exec"), namespace)
    augmented, stats, trainer = namespace["augmented"], namespace["augmenter"].stats, namespace["trainer"]
    assert {"reflection_1p", "reflection_3p", "citations", "reflection_position", "reflection_status"} <= set(
        augmented.column_names
    )
    assert sum(stats.status.values()) == len(augmented) == 300 and stats.status["ok"] > 0
    # every ok reflection is packed: the whole stream of the trained arm holds each of them, none skipped
    from spp.pretrain.packing import PackingStats

    packing = PackingStats()
    windows = list(namespace["run"].train_dataset.windows(packing))
    packed = {d for w in windows for d in w.reflections}
    ok_ids = {r["id"] for r in augmented if r["reflection_status"] == "ok"}
    assert packing.reflections == len(packed) == len(ok_ids) == stats.status["ok"] and packed == ok_ids
    assert packing.skipped == 0 and namespace["run"].extra["audit"]["skipped"] == {}
    assert trainer.state.global_step == 2
    assert (tmp_path / "outputs/api-example/spp_t0/checkpoint-2").is_dir()
