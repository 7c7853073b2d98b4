"""The DOE study pipeline: data, surrogates, envelopes per interval, OpenDSS validation."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from federates.doe import profiles
from federates.doe import surrogates as S
from federates.doe.case import Case, Limits, Weights, case
from federates.doe.dataset import LoadBox, OutputMap, generate
from federates.doe.methods import EnvelopeEngine, MilpSettings
from federates.doe.snapshot import Snapshotter
from federates.doe.train import TrainConfig, nmae, train
from federates.doe.validate import corners
from runner.studies.doe.config import Config
from runner.studies.doe.report import headline, write_outputs


def _case(cfg: Config) -> Case:
    c = case(cfg.feeder)
    lim = Limits(**cfg.limits.model_dump()) if cfg.limits else c.limits
    return replace(c, limits=lim, weights=Weights(**cfg.weights.model_dump()))


def _surrogates(cfg: Config, data, omap: OutputMap, c: Case, seed: int, out: Path,
                taps: dict[str, int]):
    """Train ICNNs and MLPs (or load ICNNs); returns the sets, NMAE table and timings."""
    tr, va, te = data.split(seed)
    t_tr, t_va, t_te = S.targets(tr.y), S.targets(va.y), S.targets(te.y)
    bases = S.nmae_bases(c.limits, c.s_base_kva)
    tcfg = TrainConfig(epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr, patience=cfg.patience,
                       nonneg=cfg.nonneg)
    sets, rows, times = {}, [], {}
    for convex in (True, False):
        label = "icnn" if convex else "mlp"
        if not convex and cfg.mlp_epochs:
            tcfg = replace(tcfg, epochs=cfg.mlp_epochs)
        if convex and cfg.weights_file:
            sets[label] = S.SurrogateSet.load(Path(cfg.weights_file))
            times[label] = 0.0
        else:
            nets, t0 = {}, time.perf_counter()
            for k, m in enumerate(S.KEYS):
                nets[m], hist = train(tr.x, t_tr[m], va.x, t_va[m], cfg.widths[m], convex,
                                      bases[m], seed + k, tcfg)
                rows.append({"net": label, "output": m, "epochs": hist["epochs"],
                             "train_s": hist["seconds"]})
            times[label] = time.perf_counter() - t0
            sets[label] = S.SurrogateSet(nets, omap.v_names, omap.i_names)
            if convex:
                meta = {"command": "gridfed study <yaml> with kind: doe, the seed and the "
                                   "config below", "seed": seed, "config": cfg.model_dump(),
                        "samples_kept": len(data.x), "data_sha256": data.digest(),
                        "taps": taps,
                        "train_seconds": time.perf_counter() - t0}
                sets[label].save(out / "weights" / f"icnn_{cfg.feeder}", meta)
    table = []
    for m in S.KEYS:
        table.append({"output": m, "base": bases[m],
                      "icnn_nmae": nmae(sets["icnn"].nets[m], te.x, t_te[m], bases[m]),
                      "mlp_nmae": nmae(sets["mlp"].nets[m], te.x, t_te[m], bases[m])})
    return sets, pd.DataFrame(table), pd.DataFrame(rows), times


def _snapshots(series: profiles.Series) -> dict[str, int]:
    """High-PV low-load hour (upper study) and the peak hour with EV charging (lower)."""
    pv = series.p_hi[:, 0] / np.maximum(series.m, 1e-9)
    ev = series.m * np.abs(series.p_lo[:, -1])
    return {"upper": int(np.argmax(pv)), "lower": int(np.argmax(ev))}


def run(config: Config, out: Path, *, seed: int, jobs: int = 1,
        scheduler: str | None = None) -> dict:
    """Run the study into ``out`` (results.json, parquet, PNG, report.md); returns headline."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    c = _case(config)
    timing: dict[str, float] = {}
    snap = Snapshotter(c)
    omap = OutputMap.retrenched(snap)
    m_peak = config.m_peak or profiles.calibrate_peak(
        snap, config.peak_current_fraction * c.limits.i_max_a)
    series = profiles.build(snap, config.hours, m_peak, seed)
    if config.taps == "regulated":
        snap.regulate(float(series.m.mean()))
    box = LoadBox.from_multipliers(series.m.min(), series.m.max())
    data = generate(snap, omap, box, config.samples, seed)
    timing["data_s"] = data.seconds
    sets, nmae_tab, train_tab, ttimes = _surrogates(config, data, omap, c, seed, out,
                                                    snap.taps)
    timing |= {f"train_{k}_s": v for k, v in ttimes.items()}
    eng = EnvelopeEngine(snap, sets["icnn"], sets["mlp"], c, c.limits, c.weights,
                         MilpSettings(config.b2_time_limit_s, config.b4_time_limit_s))
    snaps = _snapshots(series)
    snap_rows = []
    for study, t in snaps.items():
        snap_rows += eng.interval(series, t, ("B0", "B1", "B2", "B3", "B4"), study)
    rng = np.random.default_rng(seed)
    n_all = min(config.evaluate_hours or len(series), len(series))
    b2_set = set(rng.choice(n_all, size=min(config.b2_intervals, n_all),
                            replace=False).tolist())
    rows, corner_rows = [], []
    t0 = time.perf_counter()
    n_eval = min(config.evaluate_hours or len(series), len(series))
    for t in range(n_eval):
        env = {}
        for study in ("upper", "lower"):
            methods = ("B0", "B1", "B3") + (("B2",) if t in b2_set else ())
            got = eng.interval(series, t, methods, study)
            rows += got
            env[study] = {r["method"]: np.array([r[f"p_{d.name}"] for d in c.ders])
                          for r in got}
        if config.corners:
            for meth in ("B1", "B3"):
                lo, hi = env["lower"][meth], env["upper"][meth]
                if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
                    for r in corners(snap, series.p_load[t], series.q_load[t], lo, hi,
                                     c.limits, c.weights):
                        corner_rows.append({"t": t, "method": meth, **r})
    timing["series_s"] = time.perf_counter() - t0
    adapt = _adaptivity(eng, series, c, n_eval)
    tables = {"snapshots": pd.DataFrame(snap_rows), "series": pd.DataFrame(rows),
              "corners": pd.DataFrame(corner_rows), "nmae": nmae_tab, "training": train_tab,
              "adaptivity": adapt}
    info = {"feeder": c.feeder, "m_peak": m_peak, "taps": snap.taps, "samples": config.samples,
            "evaluated_intervals": n_eval, "weights_file": config.weights_file,
            "failed_samples": data.n_failed, "snapshot_hours": snaps, "timing": timing,
            "limits": c.limits.__dict__, "weights": c.weights.__dict__,
            "weights_sha256": sets["icnn"].meta.get("weights_sha256"),
            "lp_nonzeros": eng.lp["upper"].n_nonzeros,
            "b3_model": "balanced single-phase-equivalent LinDistFlow (not LinDist3Flow)"}
    head = headline(tables, info)
    (out / "results.json").write_text(json.dumps(head, indent=2, default=float) + "\n")
    write_outputs(out, tables, series, c, info, head)
    return head


def _adaptivity(eng: EnvelopeEngine, series: profiles.Series, c: Case,
                n_eval: int) -> pd.DataFrame:
    """Spec test 15: V_max - 0.01 pu and 0.9 I_max with the same weights (B1 only)."""
    tight = c.limits.with_(v_max_pu=c.limits.v_max_pu - 0.01, i_max_a=0.9 * c.limits.i_max_a)
    rows = []
    for study in ("upper", "lower"):
        lp = eng.lp[study]
        for t in range(n_eval):
            x = eng.x_of(series.p_load[t], series.q_load[t], series.p_hi[t])
            a = lp.solve(x, series.p_lo[t], series.p_hi[t], c.limits)
            b = lp.solve(x, series.p_lo[t], series.p_hi[t], tight)
            rows.append({"study": study, "t": t, "J_base": a.objective, "J_tight": b.objective,
                         "doe_change_kw": float(np.abs(a.p - b.p).max())})
    return pd.DataFrame(rows)
