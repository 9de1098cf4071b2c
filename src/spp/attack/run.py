"""``run_attack``: behaviours -> batches of rows -> the method's optimisation -> one file per behaviour -> merge.

Promises: behaviours whose file exists (same settings) are not redone, so a killed run picks up where it stopped;
``test_cases.json`` is written only when every selected behaviour is finished; beside it ``<stem>.attack.json``
records the method, its hyperparameters, the model and file hashes, the target loss of the initial and the final
prompt of every test case (measured on the text as ``spp eval`` sends it), timing and versions.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from spp.attack.behaviors import Behavior, file_sha256, load_behaviors, targets_path
from spp.attack.config import AttackConfig
from spp.attack.prompts import build_context, prompt_rows, text_losses
from spp.attack.registry import AttackMethod, get_method, resolve_hyperparameters
from spp.attack.store import BehaviorStore, canonical_hash, check_settings, merge, write_json_atomic
from spp.errors import SppConfigError
from spp.modeling.fingerprint import model_fingerprint  # a model's identity lives with the models
from spp.ownership import OutputClaim, claim_output

logger = logging.getLogger("spp.attack")
def _settings(
    config: AttackConfig, method: AttackMethod, hp: dict[str, Any], behaviors: list[Behavior], target: Target
) -> dict:
    targets = targets_path(config.behaviors, config.targets)
    return {
        "method": method.name,
        "hyperparameters": hp,
        "model": config.model,
        "model_sha256": model_fingerprint(str(target.source.path)),
        "behaviors_sha256": file_sha256(config.behaviors),
        "targets_sha256": file_sha256(targets) if targets else None,
        "behavior_ids": [b.id for b in behaviors],
        "chat_template": target.template.record() if target.template is not None else None,
        "dtype": config.dtype,
        "seed": config.seed,
    }


@dataclass
class Target:
    """The model under test, pinned (``spp.modeling.source``), with the tokenizer and chat template it is attacked
    through (``None``: raw text)."""

    source: Any
    tokenizer: Any
    template: Any


def open_target(config: AttackConfig, api: Any = None) -> Target:
    """Pin the model (an unknown revision stops here, naming the refs that exist) and resolve its chat template
    (``spp.modeling.chat_template``; a model with no usable one stops, naming ``chat_template``)."""
    from spp.modeling import ModelSettings, load_tokenizer
    from spp.modeling.chat_template import resolve_chat_template, use_chat_template
    from spp.modeling.source import open_model

    source = open_model(config.model, config.revision or None, api=api)
    tokenizer = load_tokenizer(str(source.path), ModelSettings.of(config), "model")
    template = None
    if config.chat_template != "none":
        template = resolve_chat_template(tokenizer, config.chat_template, model_dir=source.path)
        use_chat_template(tokenizer, template)
    return Target(source, tokenizer, template)


def load_model(config: AttackConfig, target: Target):
    """The target model (frozen, in eval mode, on ``config.device`` in ``config.dtype``) and its tokenizer."""
    from spp.modeling import ModelSettings, load_causal_lm

    model = load_causal_lm(str(target.source.path), ModelSettings.of(config), "model")
    model.requires_grad_(False)
    return model, target.tokenizer


def _run_batch(context, method: AttackMethod, batch: list[Behavior], hp: dict, config: AttackConfig) -> list[dict]:
    started = time.perf_counter()
    rows = prompt_rows(context, batch, int(hp["num_test_cases_per_behavior"]))
    results = method.optimize(context, rows, hp, config.seed, search_batch_size=config.search_batch_size)
    targets = {b.id: b.target for b in batch}
    row_targets = [targets[r.behavior_id] for r in rows]
    initial = text_losses(context, [r.initial_test_case for r in results], row_targets)
    final = text_losses(context, [r.test_case for r in results], row_targets)
    seconds = (time.perf_counter() - started) / len(batch)
    records = []
    for b in batch:
        mine = [i for i, r in enumerate(rows) if r.behavior_id == b.id]
        records.append(
            {
                "behavior_id": b.id,
                "test_cases": [results[i].test_case for i in mine],
                "initial_test_cases": [results[i].initial_test_case for i in mine],
                "initial_loss": [initial[i] for i in mine],
                "final_loss": [final[i] for i in mine],
                "losses": [results[i].losses for i in mine],
                "tokens": sum(results[i].tokens for i in mine),
                "seconds": round(seconds, 3),
            }
        )
    return records


def run_attack(config: AttackConfig, api: Any = None) -> dict[str, Any]:
    """Run (or finish) the attack of ``config``; returns the provenance record written beside the test cases.
    ``api`` replaces ``HfApi`` when the model is pinned (tests)."""
    if not config.model:
        raise SppConfigError("no model given", field="model", fix="pass --model PATH_OR_ID (the model under test)")
    if config.behaviors_per_batch < 1:
        raise SppConfigError(f"must be at least 1, not {config.behaviors_per_batch}", field="behaviors_per_batch")
    method = get_method(config.method)
    hp = resolve_hyperparameters(method, config.overrides())
    behaviors = load_behaviors(
        config.behaviors, config.targets, config.functional_categories, config.behavior_ids, config.limit
    )
    target = open_target(config, api)  # pinned to its sha (a download goes to the Hub cache, not to the output)
    settings = _settings(config, method, hp, behaviors, target)
    if not config.overwrite:
        check_settings(config.work_path(), settings)  # names what changed, before the claim says "another run"
    with ExitStack() as claims:  # before the model is loaded
        for claim in attack_claims(config, canonical_hash(settings)):
            claims.enter_context(claim)
        return _run_attack(config, method, hp, behaviors, settings, target)


def attack_claims(config: AttackConfig, digest: str) -> Iterator[OutputClaim]:
    """The attack's claims on what it writes (``spp.ownership``), taken one by one: ``test_cases.json`` and its
    record as named files of their folder, with the behaviour folder beside them (or its own claim elsewhere)."""
    output, work = Path(config.output), config.work_path()
    same_folder = work.parent.resolve() == output.parent.resolve()
    names = [output.name, config.provenance_path().name, *([work.name] if same_folder else [])]
    inputs = [config.model, config.behaviors, config.targets]
    common = dict(recipe_hash=digest, inputs=inputs, overwrite=config.overwrite)
    yield claim_output("attack", output.parent, files=names, field="output", **common)
    if not same_folder:
        yield claim_output("attack", work, field="work_dir", **common)


def _run_attack(config: AttackConfig, method, hp, behaviors, settings, target) -> dict[str, Any]:
    store = BehaviorStore(config.work_path(), settings)
    pending = [b for b in behaviors if store.get(b.id) is None]
    skipped = len(behaviors) - len(pending)
    logger.info("%s: %d behaviours, %d finished before, %d to run", method.name, len(behaviors), skipped, len(pending))
    started, tokens, device = time.perf_counter(), 0, None
    if pending:
        from tqdm.auto import tqdm

        model, tokenizer = load_model(config, target)
        context = build_context(model, tokenizer, target.template is not None)
        device = str(context.device)
        with tqdm(total=len(behaviors), initial=skipped, desc=f"attack {method.name}", unit="behaviour") as bar:
            for start in range(0, len(pending), config.behaviors_per_batch):
                batch = pending[start : start + config.behaviors_per_batch]
                for record in _run_batch(context, method, batch, hp, config):
                    store.put(record)
                    tokens += record["tokens"]
                bar.update(len(batch))
    seconds = time.perf_counter() - started
    cases = merge(store, [b.id for b in behaviors], config.output)
    record = provenance(config, method, settings, store, behaviors, cases)
    record["model_source"] = target.source.record()
    record["run"] = {
        "behaviors_run": len(pending),
        "behaviors_skipped": skipped,
        "seconds": round(seconds, 3),
        "optimisation_tokens": tokens,
        "device": device,
    }
    write_json_atomic(config.provenance_path(), record)
    return record


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("spp", "torch", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance(config, method, settings, store, behaviors, cases) -> dict[str, Any]:
    """The record of a finished attack (see the module docstring)."""
    records = {b.id: store.get(b.id) for b in behaviors}
    initial = [x for r in records.values() for x in r["initial_loss"]]
    final = [x for r in records.values() for x in r["final_loss"]]
    targets = targets_path(config.behaviors, config.targets)
    return {
        "schema": "spp.attack/1",
        "attack": method.name,
        "description": method.description,
        "hyperparameters": settings["hyperparameters"],
        "defaults_from": method.source,
        "model": config.model,
        "model_sha256": settings["model_sha256"],
        "chat_template": settings["chat_template"],
        "dtype": config.dtype,
        "seed": config.seed,
        "behaviors": {"path": config.behaviors, "sha256": settings["behaviors_sha256"], "n": len(behaviors)},
        "targets": {"path": str(targets), "sha256": settings["targets_sha256"]} if targets else None,
        "test_cases": {
            "path": config.output,
            "sha256": file_sha256(config.output),
            "n": sum(len(v) for v in cases.values()),
        },
        "target_loss": {
            "measured_on": "the test case text in the chat template, as spp eval sends it",
            "mean_initial": sum(initial) / len(initial),
            "mean_final": sum(final) / len(final),
            "per_behavior": {i: {"initial": r["initial_loss"], "final": r["final_loss"]} for i, r in records.items()},
        },
        "settings_hash": store.settings_hash,
        "versions": _versions(),
    }


def attack_summary(record: dict[str, Any]) -> str:
    """An attack run's provenance record in two lines: behaviours, test cases and the mean target loss; the files."""
    from spp.attack.config import provenance_path

    loss, run, cases = record["target_loss"], record["run"], record["test_cases"]
    return (
        f"{record['attack']}: {record['behaviors']['n']} behaviours ({run['behaviors_skipped']} already finished), "
        f"{cases['n']} test cases; target loss {loss['mean_initial']:.3f} -> {loss['mean_final']:.3f}\n"
        f"wrote {cases['path']} and {provenance_path(cases['path'])}"
    )
