"""Shared fixtures: the IEEE 13 test case, its random snapshots and ICNNs trained from scratch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from federates.doe import profiles
from federates.doe import surrogates as S
from federates.doe.case import IEEE13
from federates.doe.dataset import Dataset, LoadBox, OutputMap, generate
from federates.doe.snapshot import Snapshotter
from federates.doe.train import TrainConfig, train

WIDTHS = [32, 16]
CFG = TrainConfig(epochs=300, batch=256, lr=3e-3)


@dataclass
class Trained:
    snap: Snapshotter
    omap: OutputMap
    series: profiles.Series
    box: LoadBox
    data: Dataset
    test: Dataset
    icnn: S.SurrogateSet
    raw: dict
    path: object
    der_cols: np.ndarray


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    snap = Snapshotter(IEEE13)
    omap = OutputMap.retrenched(snap)
    series = profiles.build(snap, 48, 1.0, seed=3)
    box = LoadBox.from_multipliers(series.m.min(), series.m.max())
    data = generate(snap, omap, box, 5000, seed=1)
    tr, va, te = data.split(0)
    t_tr, t_va = S.targets(tr.y), S.targets(va.y)
    bases = S.nmae_bases(IEEE13.limits, IEEE13.s_base_kva)
    nets, raw = {}, {}
    for k, m in enumerate(S.KEYS):
        nets[m], hist = train(tr.x, t_tr[m], va.x, t_va[m], WIDTHS, True, bases[m], k, CFG)
        raw[m] = hist
    sset = S.SurrogateSet(nets, omap.v_names, omap.i_names)
    path = tmp_path_factory.mktemp("doe") / "icnn_ieee13"
    sset.save(path, {"command": "tests", "seed": 1, "data_sha256": data.digest()})
    nl = len(snap.base_p_kw)
    return Trained(snap, omap, series, box, data, te, sset, raw, path,
                   np.arange(2 * nl, 2 * nl + IEEE13.n_der))
