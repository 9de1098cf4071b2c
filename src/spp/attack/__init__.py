"""Optimisation attacks against the model under test (HarmBench PEZ, GCG), written as HarmBench's test_cases.json.

    from spp.attack import AttackConfig, run_attack
    run_attack(AttackConfig(method="pez", model="path/to/model", behaviors="behaviors.csv", output="tc.json"))

Methods live in a registry (``spp.attack.registry``; one file per method); ``spp attack`` is the CLI.
"""

from spp.attack.config import AttackConfig, provenance_path
from spp.attack.registry import ATTACK_METHODS, AttackMethod, get_method, register_method


def run_attack(config: AttackConfig):
    """See ``spp.attack.run.run_attack`` (imported lazily: torch is heavy)."""
    from spp.attack.run import run_attack as run

    return run(config)


__all__ = ["ATTACK_METHODS", "AttackConfig", "AttackMethod", "get_method", "provenance_path", "register_method",
           "run_attack"]  # fmt: skip
