"""Hosting-capacity study (spec A): static and flexibility-coordinated (dynamic) HC of a
feeder, each level judged by a three-phase OpenDSS power flow, with Monte Carlo spread.

``Config`` is the ``config:`` section of a ``kind: hosting_capacity`` study YAML; ``run``
writes results.json, parquet tables, plots and report.md.
"""

from runner.studies.hosting_capacity.config import Config
from runner.studies.hosting_capacity.study import run

__all__ = ["Config", "run"]
