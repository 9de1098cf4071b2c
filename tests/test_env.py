"""``spp env``: what a bug report needs (versions, devices, accelerate config, the Hub) and exit 0, offline included."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from spp.cli import main as spp_main


def test_env_prints_versions_devices_and_the_hub_report_offline(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert spp_main(["env"]) == 0
    out = capsys.readouterr().out
    for name in ("spp", "torch", "transformers", "trl", "datasets", "accelerate", "huggingface_hub", "datatrove"):
        assert f"    - {name}: {version(name)}\n" in out, name
    assert "    - liger-kernel: " in out and "    - torchao: " in out  # installed or "not installed", never missing
    assert "- devices:" in out and "cuda available" in out and "- accelerate config:" in out
    assert "    - huggingface_hub version: " in out and "HF_HUB_CACHE" in out  # huggingface_hub's own dump
    assert "Hub reachable: offline mode (HF_HUB_OFFLINE=1): not contacted" in out


def test_env_says_the_hub_is_unreachable_and_still_exits_0(capsys, monkeypatch):
    """The Hub's HTTP boundary fails (no network): the report says so, with why, instead of failing."""
    import huggingface_hub.utils

    class NoNetwork:
        def head(self, url, timeout):
            raise ConnectionError(f"cannot reach {url}")

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.utils, "get_session", lambda: NoNetwork())
    assert spp_main(["env", "--json", "true", "--hub_timeout", "0.5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["versions"]["transformers"] == version("transformers")
    assert report["hub"]["Hub reachable"].startswith("no (ConnectionError: cannot reach https://")
    assert set(report) == {"platform", "versions", "devices", "accelerate config", "hub"}


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_env_refuses_a_timeout_that_is_not_positive(value, capsys):
    assert spp_main(["env", "--hub_timeout", value]) == 2
    assert "'hub_timeout'" in capsys.readouterr().err
