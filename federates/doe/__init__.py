"""Dynamic operating envelopes (DOE) with ICNN surrogates: pure model modules, no HELICS.

Modules: ``case`` (DERs, limits, weights), ``snapshot`` (compiled OpenDSS circuit),
``dataset`` (random snapshots), ``nets``/``train``/``surrogates`` (ICNN and MLP networks),
``embed`` (B1 LP and B2/B4 MILP), ``lindistflow`` (B3, balanced), ``validate`` (OpenDSS
checks), ``profiles`` (synthetic series), ``methods`` (B0-B4 per interval).
"""
