"""Shared fixtures: the paper's case on case118zh (built once per test session)."""

import pytest

from federates.transactive.case import build_case, network_data
from federates.transactive.config import TransactiveConfig
from federates.transactive.prosumers import PAPER_PROSUMERS


@pytest.fixture(scope="session")
def cfg() -> TransactiveConfig:
    return TransactiveConfig()


@pytest.fixture(scope="session")
def netdata(cfg):
    return network_data(cfg, [s.bus for s in PAPER_PROSUMERS])


@pytest.fixture(scope="session")
def case(cfg, netdata):
    return build_case(cfg, data=netdata)
