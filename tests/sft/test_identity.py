"""check_same_sft: what compare calls before putting instruct models side by side."""

from __future__ import annotations

import logging

import pytest

from spp.errors import SppConfigError
from spp.metadata import SppMetadata
from spp.sft.identity import check_same_sft


def _meta(arm: str, sft_hash: str | None) -> SppMetadata:
    return SppMetadata(kind="instruct_model", arm=arm, sft_hash=sft_hash, lineage={"base_model": {"repo_id": arm}})


def test_same_hash_passes_and_returns_it():
    assert check_same_sft([_meta("baseline", "abc"), _meta("spp_t0", "abc")]) == "abc"


def test_different_hashes_fail_loudly_naming_each_model():
    with pytest.raises(SppConfigError, match="not post-trained with the same SFT recipe") as err:
        check_same_sft([_meta("baseline", "abc"), _meta("spp_t0", "def")])
    assert "#0 baseline (arm baseline): abc" in str(err.value) and "#1 spp_t0 (arm spp_t0): def" in str(err.value)


def test_a_missing_hash_is_not_a_match():
    with pytest.raises(SppConfigError, match="no sft_hash"):
        check_same_sft([_meta("baseline", None), _meta("spp_t0", None)])


def test_force_warns_and_returns_none(caplog):
    with caplog.at_level(logging.WARNING, logger="spp.sft"):
        assert check_same_sft([_meta("baseline", "abc"), _meta("spp_t0", "def")], force=True) is None
    assert "comparing anyway (forced)" in caplog.text
