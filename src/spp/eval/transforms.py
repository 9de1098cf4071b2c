"""Attack transforms: each maps a list of ``EvalItem`` to a new list; a benchmark applies them in order.

Transforms compose (a DAN template, then a suffix, then a prefill). In recipes they are strings
``"BENCHMARK:KIND=ARG"`` (``advbench:prefill={target}``, ``advbench:suffix=suffixes.txt``,
``advbench:template=templates.json``, ``advbench:paraphrase=paraphrases.jsonl``), parsed by ``parse_transform``.

Template wrapping replaces the literal ``{behavior}`` slot only (real jailbreak templates contain JSON braces,
so no ``str.format``); a template without a slot gets the behavior appended after ``separator`` (a blank line for
the ``template`` transform; the DAN benchmark uses the authors' single newline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from spp.errors import SppConfigError
from spp.eval.items import EvalItem
from spp.eval.records import pick, read_records

SLOT = "{behavior}"


def fill_template(template: str, behavior: str, separator: str = "\n\n") -> str:
    """``template`` with ``{behavior}`` replaced by ``behavior``, or ``template + separator + behavior``."""
    if SLOT in template:
        return template.replace(SLOT, behavior)
    return template.rstrip() + separator + behavior


@dataclass(frozen=True)
class TemplateWrap:
    """Every item times every template: ``templates`` is ``[(template_id, text), ...]``."""

    templates: tuple[tuple[str, str], ...]
    separator: str = "\n\n"

    def __call__(self, items: list[EvalItem]) -> list[EvalItem]:
        return [
            replace(
                item,
                id=f"{item.id}|{tid}",
                prompt=fill_template(text, item.prompt, self.separator),
                attack=_join(item.attack, tid),
            )
            for tid, text in self.templates
            for item in items
        ]


@dataclass(frozen=True)
class Prefill:
    """Prime the assistant response with ``text``; ``{target}`` in it becomes the item's target string."""

    text: str

    def __call__(self, items: list[EvalItem]) -> list[EvalItem]:
        return [
            replace(item, prefill=self.text.replace("{target}", item.target), attack=_join(item.attack, "prefill"))
            for item in items
        ]


@dataclass(frozen=True)
class Suffixes:
    """Every item times every adversarial suffix (e.g. GCG strings), appended after a space."""

    suffixes: tuple[str, ...]

    def __call__(self, items: list[EvalItem]) -> list[EvalItem]:
        return [
            replace(
                item, id=f"{item.id}|sfx{i}", prompt=f"{item.prompt} {suffix}", attack=_join(item.attack, f"sfx{i}")
            )
            for i, suffix in enumerate(self.suffixes)
            for item in items
        ]


@dataclass(frozen=True)
class Paraphrases:
    """Replace each item by its paraphrases (``behavior`` -> ``[paraphrase, ...]``); items without any are kept."""

    paraphrases: dict[str, tuple[str, ...]]

    def __call__(self, items: list[EvalItem]) -> list[EvalItem]:
        out = []
        for item in items:
            variants = self.paraphrases.get(item.behavior.strip())
            if not variants:
                out.append(item)
                continue
            out.extend(
                replace(item, id=f"{item.id}|para{i}", prompt=text, attack=_join(item.attack, f"para{i}"))
                for i, text in enumerate(variants)
            )
        return out


def _join(attack: str, name: str) -> str:
    return f"{attack}+{name}" if attack else name


def load_templates(path: str | Path) -> TemplateWrap:
    """Templates from a file with a ``prompt`` (or ``template``) column and an optional ``prompt_id``/``id``."""
    templates = []
    for i, record in enumerate(read_records(path)):
        text = pick(record, ("prompt", "template", "text"), required=True, field="template")
        tid = pick(record, ("prompt_id", "id", "title"), required=False, field="id") or f"tpl{i}"
        templates.append((str(tid), str(text)))
    return TemplateWrap(tuple(templates))


def load_suffixes(path: str | Path) -> Suffixes:
    """Suffixes from a ``.txt`` file (one per line) or a CSV/JSON/JSONL file with a ``suffix`` column."""
    path = Path(path)
    if path.suffix == ".txt":
        if not path.is_file():
            raise SppConfigError("suffix file not found", source=path)
        return Suffixes(tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()))
    return Suffixes(
        tuple(str(pick(r, ("suffix", "control"), required=True, field="suffix")) for r in read_records(path))
    )


def load_paraphrases(path: str | Path) -> Paraphrases:
    """Paraphrases from a file with ``behavior`` (or ``bad_q``) and ``paraphrase`` (or ``ss_prompt``) columns."""
    groups: dict[str, list[str]] = {}
    for record in read_records(path):
        behavior = str(pick(record, ("behavior", "bad_q", "goal"), required=True, field="behavior")).strip()
        text = pick(record, ("paraphrase", "ss_prompt", "prompt"), required=True, field="paraphrase")
        groups.setdefault(behavior, []).append(str(text))
    return Paraphrases({k: tuple(v) for k, v in groups.items()})


TRANSFORMS: dict[str, Callable[[str], Callable[[list[EvalItem]], list[EvalItem]]]] = {
    "template": load_templates,
    "prefill": Prefill,
    "suffix": load_suffixes,
    "paraphrase": load_paraphrases,
}


def parse_transform(spec: str) -> tuple[str, Callable[[list[EvalItem]], list[EvalItem]]]:
    """``"BENCHMARK:KIND=ARG"`` -> ``(benchmark, transform)``; an unknown kind lists the known ones."""
    head, sep, arg = spec.partition("=")
    benchmark, colon, kind = head.partition(":")
    if not sep or not colon:
        raise SppConfigError(
            f"bad transform {spec!r}",
            field="transforms",
            fix="write BENCHMARK:KIND=ARG, e.g. advbench:prefill={target}",
        )
    if kind not in TRANSFORMS:
        raise SppConfigError(
            f"unknown transform kind {kind!r}", field="transforms", fix=f"use one of {', '.join(sorted(TRANSFORMS))}"
        )
    return benchmark.strip(), TRANSFORMS[kind](arg)


def apply_transforms(items: list[EvalItem], transforms: list[Callable[[list[EvalItem]], list[EvalItem]]]):
    """Apply ``transforms`` in order."""
    for transform in transforms:
        items = transform(items)
    return items
