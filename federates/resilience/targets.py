"""The seed's result targets, checked against the recorded series of an attack run.

References. Mitigation is judged against two references, and the report names both:
- `pre_attack`: the mean PCC import of the pre-attack window, frozen -- what the seed's
  tables compare with, and what the resilience manager itself restores (it sees nothing
  else). A baseline that drifts during the attack (afternoon load, batteries filling up)
  shows up as an error against it;
- `no_attack`: the same scenario run without the attack (`--counterfactual`), at the same
  times -- the counterfactual import the feeder would have had, drift included. Used when
  that run is in the results folder.

Per market period after the attack (`period_table`): the import and both references, local
generation and flexible load, and the market's re-dispatch -- the primary market's total
adjustment of the SMO setpoints (cleared minus bid baseline) and, per SMO, the secondary
markets' dispatch (the sum of the house setpoints) and its shortfall against the primary
target. Changes are counted against the last market period before the attack.

Targets a scenario can declare (`TargetConfig`) and how they are checked (`evaluate`):
- `import_tol_pct`: the mitigated window's mean import within this % of the reference;
- `import_at_or_below`: the mitigated window's mean import at or below the reference;
- `restore_periods`: counting the market periods that begin after detection (the first one
  is the first a coefficient update can reach), the import is back within `import_tol_pct`
  (default 2 %) of the reference, period means, by the end of this many periods and stays
  there;
- `rise_vs_generation_lost_pct`: over the attack's first step (devices have not received
  any new setpoint yet) the import rise matches the local generation lost within this %;
- `generation_first`: in the first market period after detection, spare upward generation
  covers more of the import reduction than flexible-load curtailment does (both counted
  against the attack's first step);
- `voltage_ansi_a`: no ANSI A violation (OpenDSS node-steps) from the first market period
  after detection to the attack end; min/max voltage of that span reported;
- `secondary_first`: before the first primary clearing with the manager's re-weighted
  coefficients, secondary-only re-clearings (at times without a primary clearing) already
  lower the import (by > 1 kW against the attack's first step), and the period after that
  primary clearing lowers it further. With equal primary and secondary periods the order
  cannot be told apart and the target fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from federates.common.series import scalar, summed, wide

REFERENCES = {"pre_attack": "pre-attack window mean (frozen)",
              "no_attack": "no-attack run at the same times"}


class TargetConfig(BaseModel):
    """The seed's targets for one scenario; each declared one becomes a pass/fail line."""

    model_config = ConfigDict(extra="forbid")
    import_tol_pct: float | None = Field(
        None, ge=0, description="Mitigated mean import within this % of the reference.")
    import_at_or_below: bool = Field(
        False, description="Mitigated mean import at or below the reference.")
    restore_periods: int | None = Field(
        None, ge=1, description="Import back within import_tol_pct (default 2 %) of the "
        "reference, period means, within this many market periods after detection.")
    rise_vs_generation_lost_pct: float | None = Field(
        None, gt=0, description="Import rise at the attack step within this % of the local "
        "generation lost.")
    generation_first: bool = Field(
        False, description="The first mitigated period's import reduction comes more from "
        "spare upward generation than from flexible-load curtailment.")
    secondary_first: bool = Field(
        False, description="Secondary re-dispatch acts before the primary market's, which "
        "then moves more.")
    voltage_ansi_a: bool = Field(
        False, description="No ANSI A voltage violation from the first market period after "
        "detection to the attack end.")
    zero_import_kw: float | None = Field(
        None, ge=0, description="Islanded: |PCC import| within this many kW at every step "
        "of the run (the island balanced by its own resources).")


# ---------------------------------------------------------------------- series helpers
def market_periods(ts: pd.DataFrame, market: str, start: float, end: float
                   ) -> list[tuple[float, float]]:
    """Market periods [lo, hi) from the two before `start` up to `end`."""
    starts = sorted(set(scalar(ts, f"{market}.period_start").to_numpy().tolist()))
    if len(starts) < 2:
        return []
    period = float(np.median(np.diff(starts)))
    grid = np.arange(starts[0], end + 1e-9, period)
    return [(float(lo), float(lo + period)) for lo in grid
            if lo + period > start - period - 1e-9 and lo < end - 1e-9]


def _mean(s: pd.Series, lo: float, hi: float) -> float | None:
    w = s[(s.index >= lo) & (s.index < hi)]
    return float(w.mean()) if len(w) else None


def _at(s: pd.Series, t: float) -> float | None:
    w = s[s.index <= t + 1e-9]
    return float(w.iloc[-1]) if len(w) else None


# ---------------------------------------------------------------------- the period table
def period_table(ts: pd.DataFrame, sig: dict[str, str], start: float, end: float,
                 no_attack: pd.Series | None = None,
                 attacked: set[str] | None = None) -> list[dict[str, Any]]:
    """One row per market period, from the two before the attack to the attack end."""
    market, pop = sig.get("market", ""), sig.get("population", "")
    if not market:
        return []
    p = scalar(ts, sig["pcc"])
    gen = -summed(ts, f"{pop}.load_kw", ("pv", "battery")) if pop else pd.Series(dtype=float)
    flex = summed(ts, f"{pop}.load_kw", ("hvac", "waterheater", "ev")) if pop else \
        pd.Series(dtype=float)
    prim_p, prim_p0 = wide(ts, f"{market}.primary.p_kw"), wide(ts, f"{market}.primary.p0_kw")
    sec_p = wide(ts, f"{market}.secondary.p_kw")
    sec_n = wide(ts, f"{market}.secondary.agents")
    rows: list[dict[str, Any]] = []
    hit = sorted(attacked or ())
    for lo, hi in market_periods(ts, market, start, end):
        row: dict[str, Any] = {"from_s": lo, "to_s": hi, "import_kw": _mean(p, lo, hi),
                               "no_attack_kw": _mean(no_attack, lo, hi)
                               if no_attack is not None else None,
                               "local_generation_kw": _mean(gen, lo, hi),
                               "flexible_load_kw": _mean(flex, lo, hi)}
        if len(prim_p) and lo in prim_p.index:
            adj = (prim_p.loc[lo] - prim_p0.loc[lo]).dropna()
            row["primary_adjust_kw"] = float(adj.sum())
            row["primary_p_kw"] = prim_p.loc[lo].dropna().to_dict()
        if len(sec_p) and lo in sec_p.index:
            sec = sec_p.loc[lo].dropna()
            row["secondary_p_kw"] = sec.to_dict()
            if "primary_p_kw" in row:
                prim = pd.Series(row["primary_p_kw"]).reindex(sec.index)
                row["secondary_shortfall_kw"] = float((prim - sec).abs().sum())
            if len(sec_n) and lo in sec_n.index:
                row["secondary_agents"] = int(sec_n.loc[lo].dropna().sum())
                row["secondary_agents_attacked_smos"] = int(
                    sec_n.loc[lo].reindex(hit).fillna(0).sum()) if hit else None
        rows.append(row)
    return rows


def redispatch_changes(rows: list[dict[str, Any]], attacked: set[str], start: float
                       ) -> list[dict[str, Any]]:
    """Per period from the attack on: how far the primary market moved the SMO setpoints
    since the last pre-attack period (sum of |change| over SMOs, and over trusted SMOs) and
    the secondary markets' shortfall against them (sum over SMOs of |primary - secondary|)."""
    before = [r for r in rows if r["to_s"] <= start + 1e-9]
    if not before or "primary_p_kw" not in before[-1]:
        return []
    ref_prim = pd.Series(before[-1]["primary_p_kw"])
    out = []
    for r in rows:
        if r["from_s"] < start - 1e-9 or "primary_p_kw" not in r:
            continue
        d_prim = (pd.Series(r["primary_p_kw"]) - ref_prim).dropna()
        trusted = d_prim.drop(labels=[s for s in d_prim.index if s in attacked])
        out.append({"from_s": r["from_s"],
                    "primary_change_kw": round(float(d_prim.abs().sum()), 3),
                    "primary_change_trusted_kw": round(float(trusted.abs().sum()), 3),
                    "secondary_shortfall_kw": round(float(r.get("secondary_shortfall_kw", 0.0)),
                                                    3)})
    return out


def redispatch_order(ts: pd.DataFrame, sig: dict[str, str], metrics: dict[str, Any],
                     rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Which re-dispatch lowers the import first. The primary market re-dispatches with the
    manager's coefficients from the first market period that begins after the first
    coefficient update; until then only the secondary markets (house allocations within the
    SMOs, cleared every secondary period) can act. Import changes are counted against the
    attack's first step (negative = the import falls)."""
    start, first_update = metrics.get("attack_start_s"), metrics.get("first_update_s")
    if start is None or first_update is None:
        return {}
    primary_from = next((r["from_s"] for r in rows if r["from_s"] > first_update + 1e-9), None)
    if primary_from is None:
        return {}
    p = scalar(ts, sig["pcc"])
    p0 = _at(p, start)
    step = float(np.median(np.diff(p.index))) if len(p) > 1 else 0.0
    period = next((r["to_s"] - r["from_s"] for r in rows), 0.0)
    market = sig.get("market", "")
    prim_times = set(ts.loc[ts["signal"] == f"{market}.primary.p_kw", "time"].unique())
    sec_times = ts.loc[ts["signal"] == f"{market}.secondary.p_kw", "time"].unique()
    # secondary-only clearings: a secondary clearing at a primary time is not "first"
    secondary = sorted(float(t) for t in sec_times
                       if start <= t < primary_from and t not in prim_times)
    before = _mean(p, start + step, primary_from)
    after = _mean(p, primary_from, primary_from + period)
    return {"primary_from_s": primary_from, "secondary_clearings_before": len(secondary),
            "before_primary_change_kw": None if before is None or p0 is None
            else round(before - p0, 3),
            "primary_period_change_kw": None if after is None or p0 is None
            else round(after - p0, 3)}


# ---------------------------------------------------------------------- restore and checks
def restore_time(rows: list[dict[str, Any]], ref_key: str, pre: float | None, tol: float,
                 after: float) -> float | None:
    """Start of the first period (beginning at or after `after`) from which every period's
    mean import is within `tol` of the reference; None if never."""
    cand = [r for r in rows if r["from_s"] >= after - 1e-9 and r["import_kw"] is not None]
    ok = []
    for r in cand:
        ref = pre if ref_key == "pre_attack" else r.get("no_attack_kw")
        ok.append(ref is not None and abs(r["import_kw"] - ref) <= tol * max(abs(ref), 1e-9))
    for i, r in enumerate(cand):
        if all(ok[i:]):
            return float(r["from_s"])
    return None


def attack_step(ts: pd.DataFrame, sig: dict[str, str], start: float,
                no_attack_ts: pd.DataFrame | None = None) -> dict[str, float | None]:
    """Import rise and local generation lost over the attack's first step: against the
    step before it, or against the no-attack run at the same step when given."""
    pop = sig.get("population", "")
    p = scalar(ts, sig["pcc"])
    if p.empty or not pop:
        return {}
    gen = -summed(ts, f"{pop}.load_kw", ("pv", "battery"))
    before = p.index[p.index < start - 1e-9]
    if no_attack_ts is not None:
        p_ref = scalar(no_attack_ts, sig["pcc"])
        g_ref = -summed(no_attack_ts, f"{pop}.load_kw", ("pv", "battery"))
        t_ref = start
    elif len(before):
        p_ref, g_ref, t_ref = p, gen, float(before[-1])
    else:
        return {}
    vals = (_at(p, start), _at(p_ref, t_ref), _at(gen, start), _at(g_ref, t_ref))
    if any(v is None for v in vals):
        return {}
    p1, p0, g1, g0 = vals
    assert p1 is not None and p0 is not None and g1 is not None and g0 is not None
    return {"import_rise_kw": round(p1 - p0, 3), "generation_lost_kw": round(g0 - g1, 3)}


def _line(name: str, ok: bool | None, detail: str) -> dict[str, Any]:
    return {"target": name, "pass": ok, "detail": detail}


def evaluate(cfg: TargetConfig, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Pass/fail lines for the declared targets, per available reference."""
    refs = metrics.get("references") or {}
    lines: list[dict[str, Any]] = []
    for key, ref in refs.items():
        label = REFERENCES[key]
        mit = ref.get("mitigated_change_pct")
        if mit is None:
            continue
        if cfg.import_tol_pct is not None:
            lines.append(_line(f"mitigated import within {cfg.import_tol_pct:g}% ({label})",
                               abs(mit) <= cfg.import_tol_pct,
                               f"{ref['mitigated_change_kw']:+.1f} kW ({mit:+.2f}%)"))
        if cfg.import_at_or_below:
            lines.append(_line(f"mitigated import at or below the reference ({label})",
                               mit <= 0.0, f"{ref['mitigated_change_kw']:+.1f} kW ({mit:+.2f}%)"))
        if cfg.restore_periods is not None:
            n = ref.get("restore_periods")
            tol = cfg.import_tol_pct if cfg.import_tol_pct is not None else 2.0
            lines.append(_line(
                f"import within {tol:g}% within {cfg.restore_periods} market periods ({label})",
                n is not None and n <= cfg.restore_periods,
                "never restored" if n is None else f"{n} period(s) after detection"))
    step = metrics.get("attack_step") or {}
    if cfg.rise_vs_generation_lost_pct is not None and step.get("generation_lost_kw"):
        rise, lost = step["import_rise_kw"], step["generation_lost_kw"]
        err = 100 * (rise - lost) / abs(lost)
        lines.append(_line(f"import rise at the attack step = generation lost within "
                           f"{cfg.rise_vs_generation_lost_pct:g}%",
                           abs(err) <= cfg.rise_vs_generation_lost_pct,
                           f"rise {rise:.1f} kW, generation lost {lost:.1f} kW ({err:+.1f}%)"))
    first = metrics.get("first_mitigated_period") or {}
    if cfg.generation_first and first:
        up, cut = first.get("upward_generation_kw"), first.get("curtailment_kw")
        ok = up is not None and cut is not None and up > cut
        lines.append(_line("spare generation first, then flexible-load curtailment", ok,
                           f"first mitigated period: +{up:.1f} kW generation, {cut:.1f} kW "
                           f"curtailed; mitigated window: +"
                           f"{metrics.get('upward_generation_kw', float('nan')):.1f} kW, "
                           f"{metrics.get('flexible_load_curtailed_kw', float('nan')):.1f} kW"))
    during = metrics.get("during_mitigation")
    if cfg.voltage_ansi_a and during:
        lines.append(_line("voltages within ANSI A during mitigation",
                           during["ansi_a_violation_node_steps"] == 0,
                           f"{during['ansi_a_violation_node_steps']} violation node-steps in "
                           f"[{during['from_s']:g}, {during['to_s']:g}) s, v "
                           f"{during['v_min_pu']:.4f}-{during['v_max_pu']:.4f} pu"))
    pcc = metrics.get("pcc_import_abs_max_kw")
    if cfg.zero_import_kw is not None and pcc is not None:
        lines.append(_line(f"zero PCC import within {cfg.zero_import_kw:g} kW at every step",
                           pcc <= cfg.zero_import_kw, f"max |import| {pcc:.3g} kW"))
    if cfg.secondary_first:
        order = metrics.get("redispatch_order") or {}
        sec, prim = order.get("before_primary_change_kw"), order.get("primary_period_change_kw")
        ok = (sec is not None and prim is not None and sec < -1.0 and prim < sec
              and order.get("secondary_clearings_before", 0) > 0)
        lines.append(_line(
            "secondary re-dispatch first, primary market completes", ok,
            f"import vs the attack step: {_fmt(sec, True)} kW with "
            f"{order.get('secondary_clearings_before', 0)} secondary-only clearing(s) before the "
            f"first re-weighted primary clearing "
            f"({order.get('primary_from_s')} s), {_fmt(prim, True)} kW in the period after it"
            + ("; the secondary markets clear only with the primary one, so no secondary "
               "re-dispatch can come first" if not order.get("secondary_clearings_before")
               else "")))
    return lines


# ---------------------------------------------------------------------- assessment
def _pct(change: float | None, ref: float | None) -> float | None:
    if change is None or ref is None or abs(ref) < 1e-9:
        return None
    return round(100 * change / abs(ref), 3)


def assess(metrics: dict[str, Any], ts: pd.DataFrame, sig: dict[str, str],
           targets: TargetConfig, no_attack: pd.DataFrame | None = None,
           watched: str = "pcc_import_kw") -> dict[str, Any]:
    """References, attack-step balance, period table, re-dispatch order and target lines
    for an attack run whose windows `metrics` already holds (see `report.py`)."""
    windows, start = metrics.get("windows"), metrics.get("attack_start_s")
    if not windows or start is None:
        return {}
    end = metrics["windows"]["mitigated"]["to_s"]
    attacked = set(metrics.get("attacked_buses") or ())
    p_na = scalar(no_attack, sig["pcc"]) if no_attack is not None else None
    if p_na is not None and p_na.empty:
        p_na = None
    rows = period_table(ts, sig, start, end, p_na, attacked)
    # periods are counted from the first one that begins after detection: the first that
    # a coefficient update sent at detection can reach
    detect = metrics.get("detection_time_s")
    after = next((r["from_s"] for r in rows if detect is not None
                  and r["from_s"] > detect + 1e-9), None)
    period = rows[0]["to_s"] - rows[0]["from_s"] if rows else None
    tol = (targets.import_tol_pct if targets.import_tol_pct is not None else 2.0) / 100
    pre = windows["pre_attack"].get(watched)
    refs: dict[str, dict[str, Any]] = {}
    candidates = {"pre_attack": {k: pre for k in ("pre_attack", "post_attack", "mitigated")}}
    if p_na is not None:
        candidates["no_attack"] = {k: None if _mean(p_na, w["from_s"], w["to_s"]) is None
                                   else round(_mean(p_na, w["from_s"], w["to_s"]) or 0.0, 3)
                                   for k, w in windows.items()}
    for key, ref in candidates.items():
        entry: dict[str, Any] = {"label": REFERENCES[key],
                                 "mitigated_reference_kw": ref["mitigated"]}
        for w in ("post_attack", "mitigated"):
            val = windows[w].get(watched)
            change = None if val is None or ref[w] is None else round(val - ref[w], 3)
            entry[f"{w.split('_')[0]}_change_kw"] = change
            entry[f"{w.split('_')[0]}_change_pct"] = _pct(change, ref[w])
        restored = restore_time(rows, key, pre, tol, after) if after is not None and \
            watched == "pcc_import_kw" else None
        entry["restore_time_s"] = None if restored is None else restored - start
        entry["restore_periods"] = None if restored is None or after is None or not period \
            else int(round((restored - after) / period)) + 1
        refs[key] = entry
    out: dict[str, Any] = {"references": refs,
                           "attack_step": attack_step(ts, sig, start, no_attack)}
    first = next((r for r in rows if after is not None and r["from_s"] >= after - 1e-9), None)
    pop = sig.get("population", "")
    if first is not None and pop:
        gen = -summed(ts, f"{pop}.load_kw", ("pv", "battery"))
        flex = summed(ts, f"{pop}.load_kw", ("hvac", "waterheater", "ev"))
        g0, f0 = _at(gen, start), _at(flex, start)
        if g0 is not None and f0 is not None and first["local_generation_kw"] is not None:
            out["first_mitigated_period"] = {
                "from_s": first["from_s"],
                "upward_generation_kw": round(first["local_generation_kw"] - g0, 3),
                "curtailment_kw": round(f0 - first["flexible_load_kw"], 3)}
    grid = sig.get("grid", "")
    if after is not None and grid:
        span = {k: scalar(ts, f"{grid}.{k}") for k in ("ansi_a_violations", "v_min_pu",
                                                       "v_max_pu")}
        span = {k: v[(v.index >= after) & (v.index < end)] for k, v in span.items()}
        if len(span["ansi_a_violations"]):
            out["during_mitigation"] = {
                "from_s": after, "to_s": end,
                "ansi_a_violation_node_steps": int(span["ansi_a_violations"].sum()),
                "v_min_pu": round(float(span["v_min_pu"].min()), 5),
                "v_max_pu": round(float(span["v_max_pu"].max()), 5)}
    pcc_series = scalar(ts, f"{grid}.pcc_p_kw") if grid else pd.Series(dtype=float)
    if len(pcc_series):
        out["pcc_import_abs_max_kw"] = float(pcc_series.abs().max())
    changes = redispatch_changes(rows, attacked, start)
    out["redispatch"] = changes
    out["redispatch_order"] = redispatch_order(ts, sig, metrics, rows)
    out["periods"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                       if not isinstance(v, dict)} for r in rows]
    out["targets"] = evaluate(targets, {**metrics, **out})
    return out


def _fmt(v: Any, signed: bool = False) -> str:
    if v is None:
        return "-"
    if isinstance(v, float | int) and not isinstance(v, bool):
        return f"{v:+,.1f}" if signed else f"{v:,.1f}"
    return str(v)


def markdown(metrics: dict[str, Any]) -> str:
    """References, target lines and the per-period table (empty without an attack)."""
    refs = metrics.get("references")
    if not refs:
        return ""
    lines = ["### References", "",
             "| Reference | Mitigated window [kW] | After mitigation - reference | "
             "Post-attack - reference | Restored within 2% (period means) |",
             "|---|---|---|---|---|"]
    for r in refs.values():
        restored = "never" if r["restore_time_s"] is None else \
            f"{r['restore_time_s']:g} s after the attack, period {r['restore_periods']} " \
            "after detection"
        lines.append(f"| {r['label']} | {_fmt(r['mitigated_reference_kw'])} | "
                     f"{_fmt(r['mitigated_change_kw'], True)} kW "
                     f"({_fmt(r['mitigated_change_pct'], True)}%) | "
                     f"{_fmt(r['post_change_kw'], True)} kW | {restored} |")
    if "no_attack" not in refs:
        lines += ["", "No no-attack run in this folder (`--counterfactual`): only the frozen "
                  "pre-attack level is available as reference."]
    else:
        pre, na = (refs[k]["mitigated_reference_kw"] for k in ("pre_attack", "no_attack"))
        if pre is not None and na is not None:
            what = metrics.get("watched") or "import"
            lines += ["", f"Baseline drift: without the attack the {what} would have moved by "
                      f"{na - pre:+,.1f} kW ({100 * (na - pre) / max(abs(pre), 1e-9):+.1f}%) "
                      "from the pre-attack window to the mitigated window; the manager "
                      "restores the frozen pre-attack level it knows, so when the drift "
                      "exceeds the tolerance both references cannot be met at once."]
    step = metrics.get("attack_step") or {}
    if step:
        lines += ["", f"Attack step: import {step['import_rise_kw']:+.1f} kW, local generation "
                  f"lost {step['generation_lost_kw']:.1f} kW."]
    targets = metrics.get("targets") or []
    if targets:
        lines += ["", "### Targets (seed 001)", ""]
        lines += [f"- {'PASS' if t['pass'] else 'FAIL'}: {t['target']}: {t['detail']}"
                  for t in targets]
    periods = metrics.get("periods") or []
    if periods:
        changes = {c["from_s"]: c for c in metrics.get("redispatch") or []}
        lines += ["", "### Market periods around the attack", "",
                  "| Period from [s] | Import [kW] | No attack [kW] | Local generation [kW] | "
                  "Flexible load [kW] | Primary adjustment [kW] | Primary change [kW] | "
                  "Secondary shortfall [kW] |", "|---|---|---|---|---|---|---|---|"]
        for r in periods:
            c = changes.get(r["from_s"], {})
            lines.append(
                f"| {r['from_s']:g} | {_fmt(r['import_kw'])} | {_fmt(r['no_attack_kw'])} | "
                f"{_fmt(r['local_generation_kw'])} | {_fmt(r['flexible_load_kw'])} | "
                f"{_fmt(r.get('primary_adjust_kw'), True)} | "
                f"{_fmt(c.get('primary_change_kw'))} | {_fmt(c.get('secondary_shortfall_kw'))} |")
        lines += ["", "Primary adjustment: sum over SMOs of cleared setpoint minus bid baseline. "
                  "Primary change: sum over SMOs of |change of the SMO setpoint| since the last "
                  "pre-attack period. Secondary shortfall: sum over SMOs of |SMO setpoint - "
                  "sum of its house setpoints|."]
        order = metrics.get("redispatch_order") or {}
        if order:
            lines += ["", f"Re-dispatch order: first re-weighted primary clearing at "
                      f"{order['primary_from_s']:g} s; before it "
                      f"{order['secondary_clearings_before']} secondary-only clearing(s) and an "
                      f"import change of {_fmt(order['before_primary_change_kw'], True)} kW "
                      f"against the attack step; {_fmt(order['primary_period_change_kw'], True)}"
                      " kW in the period after it."]
    return "\n".join(lines) + "\n"


def plot_periods(metrics: dict[str, Any], path: Any) -> Any:
    """Per market period: import against both references (top); the market's re-dispatch and
    the devices' response against the last pre-attack period (bottom). None without data."""
    periods = metrics.get("periods") or []
    refs = metrics.get("references") or {}
    if not periods or "pre_attack" not in refs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([r["from_s"] for r in periods]) / 3600
    col = {k: np.array([np.nan if r.get(k) is None else r[k] for r in periods], dtype=float)
           for k in ("import_kw", "no_attack_kw", "local_generation_kw", "flexible_load_kw")}
    before = [i for i, r in enumerate(periods) if r["to_s"] <= metrics["attack_start_s"] + 1e-9]
    base = before[-1] if before else 0
    changes = {c["from_s"]: c for c in metrics.get("redispatch") or []}
    fig, (top, bot) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.step(t, col["import_kw"], where="post", label="import (period mean)")
    if not np.all(np.isnan(col["no_attack_kw"])):
        top.step(t, col["no_attack_kw"], where="post", ls="--", label=REFERENCES["no_attack"])
    pre = metrics["windows"]["pre_attack"]["pcc_import_kw"]
    if pre is not None:
        top.axhline(pre, color="grey", ls=":", label=REFERENCES["pre_attack"])
    top.set_ylabel("PCC import [kW]")
    top.legend(fontsize=8)
    for key, label in (("local_generation_kw", "local generation change"),
                       ("flexible_load_kw", "flexible load curtailed (> 0)")):
        sign = 1.0 if key == "local_generation_kw" else -1.0
        bot.step(t, sign * (col[key] - col[key][base]), where="post", label=label)
    for key, label in (("primary_change_trusted_kw", "primary re-dispatch, trusted SMOs"),
                       ("secondary_shortfall_kw", "secondary shortfall")):
        y = np.array([changes.get(r["from_s"], {}).get(key, np.nan) for r in periods])
        bot.step(t, y, where="post", label=label)
    bot.set_xlabel("time [h]")
    bot.set_ylabel("vs last pre-attack period [kW]")
    bot.legend(fontsize=8)
    for ax in (top, bot):
        ax.axvline(metrics["attack_start_s"] / 3600, color="red", ls="--", lw=1)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
