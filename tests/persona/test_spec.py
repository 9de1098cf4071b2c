"""Loading and validating the persona spec."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from spp.errors import SppConfigError
from spp.persona import load_persona


def test_default_persona_has_identity_facts_to_plant_and_probe():
    p = load_persona()
    assert p.name and p.identity and p.voice
    keys = {f.key for f in p.identity_facts}
    assert {"name", "maker"} <= keys
    assert all(f.question and f.answer for f in p.identity_facts)
    assert 0 < len(p.plantable_facts) < len(p.identity_facts)  # at least one held-out control


def test_persona_without_name_fails_naming_file_and_field(tmp_path):
    path = tmp_path / "persona.yaml"
    path.write_text(yaml.safe_dump({"identity": "someone", "voice": "plain"}))
    with pytest.raises(SppConfigError) as info:
        load_persona(path)
    assert str(path) in str(info.value) and "field 'name'" in str(info.value)


def test_cli_exits_2_for_persona_without_name(tmp_path):
    path = tmp_path / "persona.yaml"
    path.write_text(yaml.safe_dump({"identity": "someone", "voice": "plain"}))
    proc = subprocess.run(
        [sys.executable, "-m", "spp", "render-prompt", "--persona", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    message = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and "\n" not in message
    assert str(path) in message and "field 'name'" in message and "missing" in message


def test_duplicate_fact_keys_rejected(tmp_path):
    fact = {"key": "name", "fact": "I am X.", "question": "Who?", "answer": "X"}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "X", "identity": "i", "voice": "v", "identity_facts": [fact, fact]}))
    with pytest.raises(SppConfigError, match=r"identity_facts\[1\]\.key"):
        load_persona(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(SppConfigError, match="not found"):
        load_persona(tmp_path / "nope.yaml")
