"""Settlement (Remark 1, T12) on the calibrated case, checked by hand-written formulas."""

import numpy as np
import pytest

from federates.transactive.central import solve_central
from federates.transactive.settlement import settle


def test_t12_effective_settlement_never_hurts(case):
    c = solve_central(case)
    s = settle(case, c, "effective")
    assert np.all(s.surplus >= -1e-9)
    assert s.reserve_saved_mwh == pytest.approx(c.p[case.is_ela].sum())
    assert s.reserve_saved_mwh == pytest.approx(0.0784, abs=2e-4)  # paper: 0.0784 MWh


def test_t12_dlmpa_settlement_reports_violations(case):
    c = solve_central(case)
    s = settle(case, c, "dlmpa_eq11")
    hurt = np.flatnonzero(s.surplus < -1e-9)
    # the spec's T6 violation: M76 (paper bus 79), a noncontrollable buyer on the lateral
    assert "76" in [case.prosumers[i].bus for i in hurt]
    # every loser was charged more than the reserve it would otherwise pay (Remark 1 fails)
    assert all(s.price[i] > case.reserve_up and case.dpd[i] < 0 for i in hurt)


@pytest.mark.parametrize("mode", ["dlmpa_eq11", "effective"])
def test_remark1_surplus_formulas(case, mode):
    c = solve_central(case)
    s = settle(case, c, mode)
    up, dn = case.reserve_up, case.reserve_down
    for i, p in enumerate(case.prosumers):
        price, dp = s.price[i], c.p[i]
        if p.kind == "non" and p.dp > 0:
            expected = (price - dn) * dp
        elif p.kind == "non":
            expected = (up - price) * (-dp)
        elif p.dp > 0:
            expected = price * dp - (p.a * dp**2 + p.b * dp)
        else:
            expected = (-p.a * dp**2 - p.b * dp) + price * dp
        assert s.surplus[i] == pytest.approx(expected, abs=1e-9), p.name


def test_uniform_price_collects_no_rent(case):
    cp = case.copper_plate()
    c = solve_central(cp)
    s = settle(cp, c, "effective")
    assert abs(s.congestion_rent) < 1e-6
    assert settle(case, solve_central(case), "dlmpa_eq11").congestion_rent > 0
