"""Fixtures for spp.data: the released-data fixture (``spp.testing.released``) written once per session."""

from __future__ import annotations

import pytest

from spp.testing.released import Released, write_released


@pytest.fixture(scope="session")
def released(tmp_path_factory) -> Released:
    return write_released(tmp_path_factory.mktemp("released"))
