"""Loading and validating the Value Constitution (YAML and Markdown)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from spp.errors import SppConfigError
from spp.persona import load_constitution

MARKDOWN = """# Test Constitution
Version: 2.1

Some preamble that is not a section.

## 1. Avoiding harm
### 1.1 Safety first
Do not help anyone
get hurt.
### 1.2 Proportion
Weigh severity.

## 2. Honesty
### 2.1 Truth
Say what is true.
"""


def test_default_constitution_covers_the_required_ground():
    c = load_constitution()
    assert len(c.domains) >= 6 and len(c.sections) >= 24
    assert c.version
    titles = " ".join(d.title.lower() for d in c.domains)
    for topic in ("harm", "honesty", "care", "fairness", "autonomy", "dual-use", "harmful"):
        assert topic in titles, topic
    assert all(s.text for s in c.sections.values())
    assert "[7.3]" in c.render()


def test_markdown_constitution(tmp_path):
    path = tmp_path / "c.md"
    path.write_text(MARKDOWN)
    c = load_constitution(path)
    assert (c.name, c.version) == ("Test Constitution", "2.1")
    assert list(c.sections) == ["1.1", "1.2", "2.1"]
    assert c.sections["1.1"].text == "Do not help anyone get hurt."


def write_yaml(tmp_path, data) -> str:
    path = tmp_path / "constitution.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def base() -> dict:
    return {
        "name": "c",
        "version": "1",
        "domains": [
            {
                "id": 1,
                "title": "Harm",
                "sections": [{"id": "1.1", "title": "a", "text": "x"}, {"id": "1.2", "title": "b", "text": "y"}],
            }
        ],
    }


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda d: d["domains"][0]["sections"][1].update(id="1.1"), "domains[0].sections[1].id", "duplicate"),
        (lambda d: d["domains"][0]["sections"][1].update(id="1-2"), "domains[0].sections[1].id", "malformed"),
        (lambda d: d["domains"][0]["sections"][1].update(id="2.1"), "domains[0].sections[1].id", "does not belong"),
        (lambda d: d["domains"][0]["sections"][0].update(text="  "), "domains[0].sections[0].text", "empty"),
        (lambda d: d.pop("version"), "version", "missing"),
        (lambda d: d.update(colour="blue"), "colour", "unknown"),
        (lambda d: d["domains"][0]["sections"][0].update(note="x"), "domains[0].sections[0].note", "unknown"),
    ],
)
def test_invalid_constitutions_name_file_and_field(tmp_path, mutate, field, words):
    data = base()
    mutate(data)
    path = write_yaml(tmp_path, data)
    with pytest.raises(SppConfigError) as info:
        load_constitution(path)
    message = str(info.value)
    assert path in message and f"field '{field}'" in message and words in message


def test_markdown_section_outside_domain_names_the_line(tmp_path):
    path = tmp_path / "bad.md"
    path.write_text("# X\nVersion: 1\n### 1.1 Orphan\ntext\n")
    with pytest.raises(SppConfigError, match="line 3"):
        load_constitution(path)


def test_cli_exits_2_with_one_paragraph_for_duplicate_section_id(tmp_path):
    data = base()
    data["domains"][0]["sections"][1]["id"] = "1.1"
    path = write_yaml(tmp_path, data)
    proc = subprocess.run(
        [sys.executable, "-m", "spp", "render-prompt", "--constitution", path], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    message = proc.stderr.strip()
    assert "\n" not in message
    assert path in message and "domains[0].sections[1].id" in message and "duplicate section id '1.1'" in message
