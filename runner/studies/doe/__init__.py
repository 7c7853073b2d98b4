"""DOE study (``kind: doe``): envelopes B0-B4 per interval with ICNN surrogates, validated in
OpenDSS; see docs/doe.md. Exports the study contract ``Config`` and ``run``."""

from runner.studies.doe.config import Config
from runner.studies.doe.study import run

__all__ = ["Config", "run"]
