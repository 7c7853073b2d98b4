"""Check market clearings against OpenDSS (the project's ground truth for power flow).

`opendss_solve` compiles the feeder in-process, sets every bus's load to a target (spot loads
at a bus are scaled together, keeping their phase split; constant-power model, so the
comparison isolates the network model), solves with regulator taps locked and returns PCC
power, losses and per-bus voltages (mean over the bus's phases). With `island` the
substation is opened and the source moved to the grid-forming bus exactly as the grid
federate does (`feeders.opendss.make_island`); the PCC import is then 0 and the
source's output is the grid-forming unit's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from feeders.opendss import IslandSetup

MIN_LOAD_VPU = 0.7  # keep loads constant-power down to this voltage (OpenDSS default 0.95)


def opendss_solve(feeder: Any, bus_p_kw: dict[str, float], bus_q_kvar: dict[str, float],
                  taps: dict[str, int] | None = None,
                  island: IslandSetup | None = None) -> dict[str, Any]:
    """Solve the feeder with the given total load per bus (buses not named keep nominal)."""
    import opendssdirect as dss

    from feeders.opendss import make_island, source_power

    if taps is None:
        taps = getattr(feeder, "published_taps", None) or None
    for cmd in feeder.dss_commands(taps=taps, lock_controls=True):
        dss.Text.Command(cmd)
    if island is not None:
        make_island(feeder.pcc_element, island)
    loads = feeder.loads
    nominal_p = loads.groupby(loads["bus"].astype(str))["kw"].sum().to_dict()
    nominal_q = loads.groupby(loads["bus"].astype(str))["kvar"].sum().to_dict()
    for name, bus, kw, kvar in zip(loads["name"], loads["bus"].astype(str), loads["kw"],
                                   loads["kvar"], strict=True):
        p_t = bus_p_kw.get(bus, nominal_p[bus])
        q_t = bus_q_kvar.get(bus, nominal_q[bus])
        sp = p_t / nominal_p[bus] if nominal_p[bus] else 0.0
        sq = q_t / nominal_q[bus] if nominal_q[bus] else 0.0
        dss.Text.Command(f"Load.{name}.model=1")
        dss.Text.Command(f"Load.{name}.vminpu={MIN_LOAD_VPU}")
        dss.Text.Command(f"Load.{name}.kw={kw * sp:.9g}")
        dss.Text.Command(f"Load.{name}.kvar={kvar * sq:.9g}")
    for bus in set(bus_p_kw) - set(nominal_p):
        p_t, q_t = bus_p_kw[bus], bus_q_kvar.get(bus, 0.0)
        if abs(p_t) < 1e-9 and abs(q_t) < 1e-9:
            continue
        dss.Circuit.SetActiveBus(bus)
        kv = dss.Bus.kVBase()
        nodes = dss.Bus.Nodes()
        conn = ".".join(str(n) for n in nodes)
        dss.Text.Command(f"New Load.mkt_{bus} bus1={bus}.{conn} phases={len(nodes)} "
                         f"kv={kv * (np.sqrt(3) if len(nodes) > 1 else 1):.6g} model=1 "
                         f"vminpu={MIN_LOAD_VPU} kw={p_t:.9g} kvar={q_t:.9g}")
    dss.Solution.Solve()
    if not dss.Solution.Converged():
        raise RuntimeError("OpenDSS did not converge")
    total = dss.Circuit.TotalPower()
    names = dss.Circuit.AllNodeNames()
    mags = np.asarray(dss.Circuit.AllBusMagPu())
    per_bus: dict[str, list[float]] = {}
    for node, vm in zip(names, mags, strict=True):
        per_bus.setdefault(node.split(".")[0], []).append(float(vm))
    losses = dss.Circuit.Losses()
    source_p, source_q = source_power()
    return {
        "pcc_p_kw": 0.0 if island is not None else -float(total[0]),
        "pcc_q_kvar": 0.0 if island is not None else -float(total[1]),
        "grid_forming_p_kw": source_p if island is not None else 0.0,
        "grid_forming_q_kvar": source_q if island is not None else 0.0,
        "losses_kw": float(losses[0]) / 1000.0,
        "v_bus_pu": {b: float(np.mean(v)) for b, v in per_bus.items()},
        "v_node_pu": dict(zip(names, mags.tolist(), strict=True)),
    }


def compare(result: Any, dss_out: dict[str, Any]) -> dict[str, float]:
    """Errors of an OPF prediction (`ClearingResult`) against an OpenDSS solve."""
    v_opf = {b.lower(): v for b, v in zip(result.buses, result.v_pu, strict=True)}
    live = {b for b, v in dss_out["v_bus_pu"].items() if v > 0.1}  # not de-energised
    common = [b for b in v_opf if b in live]
    dv = np.array([v_opf[b] - dss_out["v_bus_pu"][b] for b in common])
    return {
        "v_max_abs_err_pu": float(np.max(np.abs(dv))),
        "v_mean_abs_err_pu": float(np.mean(np.abs(dv))),
        "pcc_p_err_kw": float(result.pcc_p_kw - dss_out["pcc_p_kw"]),
        "pcc_p_rel_err": float(abs(result.pcc_p_kw - dss_out["pcc_p_kw"])
                               / max(abs(dss_out["pcc_p_kw"]), 1e-9)),
        "pcc_q_err_kvar": float(result.pcc_q_kvar - dss_out["pcc_q_kvar"]),
        "losses_err_kw": float(result.losses_kw - dss_out["losses_kw"]),
        "grid_forming_p_err_kw": float(result.grid_forming_p_kw - dss_out.get(
            "grid_forming_p_kw", 0.0)),
        "grid_forming_q_err_kvar": float(result.grid_forming_q_kvar - dss_out.get(
            "grid_forming_q_kvar", 0.0)),
        "buses_compared": float(len(common)),
    }
