"""Feeder data as tables, a builder to OpenDSS, and array views for optimisation models.

>>> import feeders
>>> f = feeders.load("ieee123")
>>> cmds = f.dss_commands(taps=f.published_taps, lock_controls=True)
>>> net = f.network  # numpy arrays: buses, branches, impedances, loads
"""

from feeders.catalog import Feeder, FeederInfo, list_feeders, load
from feeders.network import Network

__all__ = ["Feeder", "FeederInfo", "Network", "list_feeders", "load"]
