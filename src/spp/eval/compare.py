"""``spp compare``: several ``results.json`` -> one table (markdown + JSON) and a PNG bar chart.

Promises:
- Models whose SFT hashes differ are refused (``SppConfigError``) unless ``force``; a model without a recorded SFT
  hash is refused too (nothing shows its SFT matches). The check is ``spp.sft.check_same_sft``.
- Results that did not evaluate the same thing are refused unless ``force``, naming every difference: the
  benchmark set of the headline, and per benchmark its judge, its sources (file sha256 / Hub id and revision) and
  its n. With ``force`` every differing cell is marked ``†`` and the differences are listed under the table.
- A table or chart built on a smoke judge (keyword) says "smoke judge".
- External models (no ``spp.json``: a released or third-party model, ``metadata: external`` in its results) share
  the table with spp's when the eval settings match; they are marked "external" and left out of the SFT-hash and
  data-view checks (their post-training is not spp's to compare).
- ``reported`` (a release registry, ``spp.releases``) adds the paper's own figures beside the measured ones,
  labelled "as reported", and writes the Figure-1 chart and table (``spp.eval.reported``).
- Models whose base models were pretrained on different data views (``data_view_hash``: corpus and every
  stream-shaping field but the arm) are refused unless ``force``; forced, the table marks their rows.
- Results generated differently are refused unless ``force``, naming the setting: per benchmark ``max_new_tokens``,
  sampling (temperature, top_p; the seed when sampling), chat template on/off, the system turn sent, the
  construction options (DAN separator and excluded templates, JBB null prompts and aggregation, transfer attacks,
  ...), the attack transforms and the items evaluated (``items_sha256``: ``limit`` and its seed); for the whole run
  the chat template's own system turn and, when both results record it, the chat template chosen (a model's own
  template by name, whose text belongs to the model; a template file by its sha256).
- Results marked ``incomplete`` (too many unparsed judge answers) are refused, even with ``force``. Every cell
  shows how many items its rate leaves out as unparsed, and a transfer attack is named "NAME (transfer)" in the
  table and the chart.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError
from spp.eval.attack_origin import display_name
from spp.eval.compare_report import comparison_markdown, plot
from spp.metadata import SppMetadata
from spp.sft.identity import check_same_sft

logger = logging.getLogger("spp.eval")


def load_results(paths: list[str]) -> list[dict[str, Any]]:
    """Each path is a ``results.json`` or a folder holding one."""
    out = []
    for raw in paths:
        path = Path(raw)
        path = path / "results.json" if path.is_dir() else path
        if not path.is_file():
            raise SppConfigError("results file not found", source=path, fix="pass results.json files of spp eval")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise SppConfigError(f"not valid JSON ({err.msg})", source=f"{path}:{err.lineno}") from err
        if "benchmarks" not in data or "headline" not in data:
            raise SppConfigError("not an spp eval results file", source=path)
        if data.get("incomplete"):
            raise SppConfigError(
                f"these results are incomplete, not a result: {data['incomplete'][:300]}",
                source=path,
                fix="fix the judge and rerun spp eval (generations are cached); --force does not apply",
            )
        out.append({**data, "_path": str(path)})
    return out


# Files made per model under test (an optimisation attack's test cases): their hashes differ by design, so the
# attack that made them (method and hyperparameters) is compared instead.
PER_MODEL_ROLES = ("test_cases",)


def _sources_key(benchmark: dict[str, Any]) -> str:
    sources = benchmark.get("sources")
    if sources is None:
        return "unrecorded"
    keys = []
    for role, entries in sorted(sources.items()):
        if role in PER_MODEL_ROLES:
            continue
        for e in entries:
            keys.append(f"{role}:{e['sha256']}" if "sha256" in e else f"{role}:{e['hub']}@{e.get('revision')}")
    return ",".join(keys)


def _attack_key(benchmark: dict[str, Any]) -> str:
    """The attacks that made a benchmark's test cases: method and hyperparameters (not the per-model file)."""
    records = benchmark.get("test_cases") or []
    return ",".join(f"{r.get('attack')}:{json.dumps(r.get('hyperparameters'), sort_keys=True)}" for r in records)


def _generation(key: str):
    def get(benchmark: dict[str, Any]) -> Any:
        generation = benchmark.get("generation")
        return "unrecorded" if generation is None else generation.get(key, "unrecorded")

    return get


def _sampling_seed(benchmark: dict[str, Any]) -> Any:
    """The seed matters for sampled generation only (greedy decoding ignores it)."""
    generation = benchmark.get("generation") or {}
    return generation.get("seed") if generation.get("temperature") else "greedy"


def _options(benchmark: dict[str, Any]) -> str:
    """Construction options other than max_new_tokens (compared through the generation settings)."""
    options = {k: v for k, v in (benchmark.get("options") or {}).items() if k != "max_new_tokens"}
    return json.dumps(options, sort_keys=True)


# What generated a benchmark's responses: (setting named in the refusal, how to read it from a benchmark's results)
GENERATION_CHECKS = (
    ("max_new_tokens", _generation("max_new_tokens")),
    ("temperature", _generation("temperature")),
    ("top_p", _generation("top_p")),
    ("sampling seed", _sampling_seed),
    ("chat template applied", _generation("chat_template")),
    ("system turn", _generation("system_prompt")),
    ("construction options", _options),
    ("attack transforms", lambda b: json.dumps(b.get("attack_transforms") or [])),
    ("items", lambda b: b.get("items_sha256", "unrecorded")),
)


def _run_setting_differences(results: list[dict[str, Any]]) -> list[str]:
    """Settings of the whole run: the chat template's own system turn, and its sha256 when both record it."""
    names = [r["model"] for r in results]
    lines = []
    turns = [r.get("template_system_turn") for r in results]
    if len({str(t) for t in turns}) > 1:
        lines.append("system turn added by the chat template differs (" + "; ".join(
            f"{n}: {str(t)[:60]}" for n, t in zip(names, turns, strict=True)) + ")")  # fmt: skip
    templates = [r.get("chat_template") if isinstance(r.get("chat_template"), dict) else None for r in results]
    choices = [_template_choice(t) for t in templates]
    if all(choices) and len(set(choices)) > 1:
        lines.append("chat template differs (" + "; ".join(
            f"{n}: {t['name']} from {t['source']}, sha256 {str(t['sha256'])[:12]}"
            for n, t in zip(names, templates, strict=True)) + ")")  # fmt: skip
    return lines


def _template_choice(template: dict[str, Any] | None) -> tuple[str, str] | None:
    """What the eval chose to prompt with: a model's own template by name (its text is part of that model, as its
    post-training is: an external model and an spp model each prompted with their own default template match), or
    a file's text by sha256. ``None`` when unrecorded (older results, a server's own template)."""
    if not template or not template.get("sha256"):
        return None
    if str(template.get("source", "")).startswith("model:"):
        return ("model", str(template.get("name")))
    return ("file", str(template["sha256"]))


def differences(results: list[dict[str, Any]]) -> tuple[list[str], set[tuple[int, str]]]:
    """What differs between results (one line each), and the ``(result index, benchmark)`` cells it touches;
    ``"mean"`` stands for the headline."""
    lines: list[str] = []
    cells: set[tuple[int, str]] = set()
    names = [r["model"] for r in results]
    sets = [tuple(r["headline"]["benchmarks"]) for r in results]
    if len(set(sets)) > 1:
        lines.append(
            "headline benchmark sets differ: " + "; ".join(f"{n}: {list(b)}" for n, b in zip(names, sets, strict=True))
        )
        cells |= {(i, "mean") for i in range(len(results))}
    every = [sorted(r["benchmarks"]) for r in results]
    if len({tuple(b) for b in every}) > 1 and len(set(sets)) == 1:
        lines.append("benchmark sets differ: " + "; ".join(f"{n}: {b}" for n, b in zip(names, every, strict=True)))
    common = set.intersection(*(set(r["benchmarks"]) for r in results))
    for name in sorted(common, key=list(dict.fromkeys(b for r in results for b in r["benchmarks"])).index):
        for what, get in (
            ("judge", lambda b: b.get("judge")),
            ("sources", _sources_key),
            ("attack", _attack_key),
            ("n", lambda b: b.get("n")),
            *GENERATION_CHECKS,
        ):
            values = [get(r["benchmarks"][name]) for r in results]
            if len({str(v) for v in values}) > 1:
                shown = "; ".join(f"{n}: {str(v)[:80]}" for n, v in zip(names, values, strict=True))
                lines.append(f"{name}: {what} differs ({shown})")
                cells |= {(i, name) for i in range(len(results))} | {(i, "mean") for i in range(len(results))}
    run_lines = _run_setting_differences(results)
    if run_lines:
        lines += run_lines
        cells |= {(i, b) for i, r in enumerate(results) for b in [*r["benchmarks"], "mean"]}
    return lines, cells


def comparison_table(results: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"models": [...], "benchmarks": [...], "rows": [{model, mean, mean_ci, max, ..., per-benchmark}]}``."""
    benchmarks = list(dict.fromkeys(b for r in results for b in r["benchmarks"]))
    rows = []
    for r in results:
        h = r["headline"]
        rows.append(
            {
                "model": r["model"],
                "arm": r.get("arm"),
                "judge": r["judge"],
                "sft_hash": r.get("sft_hash"),
                "data_view_hash": r.get("data_view_hash"),
                "mean": h["mean"],
                "mean_ci": h["mean_ci"],
                "max": h["max"],
                "max_ci": h["max_ci"],
                "max_benchmark": h["max_benchmark"],
                "benchmarks": {
                    b: {
                        **{k: r["benchmarks"][b][k] for k in ("metric", "value", "ci", "n")},
                        "unparsed": r["benchmarks"][b].get("unparsed", 0),
                        "attack_origin": r["benchmarks"][b].get("attack_origin"),
                    }
                    for b in benchmarks
                    if b in r["benchmarks"]
                },
                "probes": (r.get("probes") or {}).get("planted", {}).get("recall"),
                "external": r.get("metadata") == "external",
                "smoke_judge": bool(r.get("smoke_judge"))
                or any(
                    str(r["benchmarks"][b].get("judge", "")).startswith("keyword") for b in r["headline"]["benchmarks"]
                ),
            }
        )
    lines, cells = differences(results)
    for i, row in enumerate(rows):
        row["marked"] = sorted(b for j, b in cells if j == i)
    labels = {b: _label(b, rows) for b in benchmarks}
    headline_set = list(dict.fromkeys(b for r in results for b in r["headline"]["benchmarks"]))
    return {
        "benchmarks": benchmarks,
        "headline_benchmarks": headline_set,
        "labels": labels,
        "rows": rows,
        "differences": lines,
    }


def _label(name: str, rows: list[dict[str, Any]]) -> str:
    """A benchmark's column name: "NAME (transfer)" when any row's test cases came from another model."""
    origins = [row["benchmarks"].get(name, {}) for row in rows]
    return next((display_name(name, o) for o in origins if display_name(name, o) != name), name)


def check_same_view(results: list[dict[str, Any]], force: bool = False) -> list[str]:
    """The models whose base was pretrained on another data view than the first one's (``data_view_hash``, see
    ``spp.contract``). Differing views raise ``SppConfigError`` unless ``force``; forced, the list is returned so
    the table can mark them. Results without a recorded view are logged, not refused."""
    recorded = {r["model"]: r.get("data_view_hash") for r in results if r.get("metadata") != "external"}
    missing = [m for m, h in recorded.items() if h is None]
    if missing:
        logger.warning("no data_view_hash recorded for %s: cannot check that their arms are data-matched", missing)
    hashes = {h for h in recorded.values() if h is not None}
    if len(hashes) <= 1:
        return []
    listing = "; ".join(f"{m}: {h or 'not recorded'}" for m, h in recorded.items())
    message = f"these models were pretrained on different data views, so their arms are not data-matched ({listing})"
    if not force:
        raise SppConfigError(
            message,
            field="data_view_hash",
            fix="pretrain every arm from one corpus with the same data fields (only the arm may differ), or pass "
            "--force true to compare anyway (the table marks the rows)",
        )
    logger.warning("%s; comparing anyway (forced)", message)
    first = next(h for h in recorded.values() if h is not None)
    return [m for m, h in recorded.items() if h is not None and h != first]


def compare(
    paths: list[str], output_dir: str | Path, force: bool = False, title: str = "", reported: str = ""
) -> dict[str, Path]:
    """Write ``comparison.json``, ``comparison.md`` and ``comparison.png`` into ``output_dir`` (and, with a
    ``reported`` release registry, ``figure1.md`` and ``figure1.png``)."""
    if not paths:
        raise SppConfigError("no results given", field="results", fix="pass results.json files: spp compare A B")
    results = load_results(paths)
    release = None
    if reported:
        from spp.releases import load_release

        release = load_release(reported)
    metas = [
        SppMetadata(
            kind="instruct_model",
            sft_hash=r.get("sft_hash"),
            arm=r.get("arm"),
            lineage={"base_model": r["model"]},
            details={"model": r["model"]},
        )
        for r in results
        if r.get("metadata") != "external"
    ]
    if metas:
        check_same_sft(metas, force=force)
    unmatched = check_same_view(results, force=force)
    table = comparison_table(results)
    table["unmatched"] = unmatched
    if table["differences"] and not force:
        raise SppConfigError(
            "these results did not evaluate the same thing: " + " | ".join(table["differences"]),
            field="results",
            fix="evaluate every model with the same recipe (benchmarks, files, judges, limit, generation settings), or "
            "pass --force true to compare anyway with every differing cell marked",
        )
    if any(row["smoke_judge"] for row in table["rows"]):
        title = f"{title or 'Attack success rate'} (smoke judge)"
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "comparison.json", "markdown": out / "comparison.md", "png": out / "comparison.png"}
    files["json"].write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    files["markdown"].write_text(comparison_markdown(table), encoding="utf-8")
    plot(table, files["png"], title or "Attack success rate")
    if release is not None:
        from spp.eval.reported import write_figure

        files.update(write_figure(table, release, out, title or "Attack success rate"))
    return files
