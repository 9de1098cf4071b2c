"""Whose attack a benchmark's test cases are: optimised against the model under test, or transferred from another.

HarmBench PEZ/GCG test cases are optimised per model; the headline's fifth benchmark is an own-model attack. The
``<stem>.attack.json`` that ``spp attack`` writes beside ``test_cases.json`` records the attacked model's
fingerprint (``model_sha256``: sha256 over its weights, config and tokenizer files; a Hub id stands for itself).
``attack_origins`` compares it with the model under test before anything loads:

- the same model: ``own``;
- another model: refused (exit 2, naming the file and both models) unless the benchmark's option
  ``transfer_attack: true`` says so, which makes it ``transfer``: every table and chart then names the benchmark
  "NAME (transfer)", and compare refuses to put it beside an own-model result (its options differ);
- no record (test cases from HarmBench's own scripts), a model that cannot be fingerprinted (a served model), or a
  Hub id on one side and a folder's file hash on the other: ``unverified``, logged and shown in results.md.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

logger = logging.getLogger("spp.eval")
OWN, TRANSFER, UNVERIFIED = "own", "transfer", "unverified"


def model_under_test_fingerprint(config: Any) -> str | None:
    """The fingerprint ``spp attack`` would record for the model under test, or ``None`` (a served model)."""
    from spp.modeling.fingerprint import model_fingerprint

    source = config.model_source() if config.backend == "transformers" else config.model
    if not source or (config.backend != "transformers" and not Path(source).is_dir()):
        return None
    return model_fingerprint(source)


def attack_origin(name: str, entries: list[dict[str, Any]], options: dict[str, Any], fingerprint: str | None) -> str:
    """``own``, ``transfer`` or ``unverified`` for benchmark ``name`` (module doc); a mismatch raises."""
    transfer = bool(options.get("transfer_attack"))
    recorded = [e for e in entries if e.get("model_sha256")]
    if transfer:
        return TRANSFER
    comparable = [
        e for e in recorded if fingerprint is not None and _is_hash(e["model_sha256"]) == _is_hash(fingerprint)
    ]
    if not comparable:  # no record, no local files, or a file hash on one side and a Hub id on the other
        why = (
            "no attack record beside the test cases"
            if not recorded
            else "the model under test has no files here"
            if fingerprint is None
            else "one side is a Hub id, the other a folder's file hash"
        )
        logger.warning("%s: cannot check that the test cases were optimised against this model (%s)", name, why)
        return UNVERIFIED
    recorded = comparable
    other = [e for e in recorded if e["model_sha256"] != fingerprint]
    if other:
        entry = other[0]
        raise SppConfigError(
            f"{name}: the test cases in {entry['path']} were optimised against another model ({entry.get('model')}, "
            f"fingerprint {str(entry['model_sha256'])[:12]}) than the model under test (fingerprint "
            f"{fingerprint[:12]}): the benchmark would silently become a transfer attack",
            field="benchmark_files",
            fix=f"run spp attack against this model and pass its test cases, or set benchmark_options "
            f"{{{name}: {{transfer_attack: true}}}} to report it as a transfer attack",
        )
    return OWN


def _is_hash(value: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{64}", str(value)) is not None


def display_name(name: str, benchmark: dict[str, Any] | None) -> str:
    """A benchmark's name in tables and charts: "harmbench (transfer)" for a transfer attack."""
    return f"{name} (transfer)" if (benchmark or {}).get("attack_origin") == TRANSFER else name
