"""A sweep's report.md and plots, from its table (`gridfed report DIR` regenerates them).

Plots: every metric that varies across the points against each numeric swept parameter
(mean over the other parameters and the replicates, band = their min..max spread, points
shown), and for a two-dimensional grid (a zip counts as one dimension) a heat map of the
first varying metrics (mean over replicates).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from runner.sweep.spec import Parameters
from runner.sweep.table import METRIC_PREFIX, SWEEP_FILE, parameter_keys, write_table

PER_FIGURE = 6  # metrics per figure (a 3 x 2 grid of panels)
MAX_PLOTTED = 24  # metrics plotted, in metrics.json order (all of them are in the table)
MAX_HEATMAPS = 6
UNITS = (("_kwh", "kWh"), ("_kw", "kW"), ("_kvar", "kvar"), ("_pu", "pu"), ("_pct", "%"),
         ("_s", "s"), ("_ms", "ms"), ("_usd", "$"), ("cost", "$"), ("steps", "steps"))


def unit_of(name: str) -> str:
    """The unit a metric or parameter name ends with (gridfed's naming convention)."""
    leaf = name.rsplit(".", 1)[-1]
    for suffix, unit in UNITS:
        if leaf.endswith(suffix):
            return unit
    return "-"


def _label(name: str) -> str:
    return f"{name.removeprefix(METRIC_PREFIX)} [{unit_of(name)}]"


def varying_metrics(table: pd.DataFrame) -> list[str]:
    ok = table[table["status"] == "ok"]
    cols = [c for c in ok.columns if c.startswith(METRIC_PREFIX)
            and pd.api.types.is_numeric_dtype(ok[c]) and not pd.api.types.is_bool_dtype(ok[c])]
    return [c for c in cols if ok[c].nunique(dropna=True) > 1]


def numeric_params(table: pd.DataFrame, keys: list[str]) -> list[str]:
    return [k for k in keys if k in table and pd.api.types.is_numeric_dtype(table[k])
            and not pd.api.types.is_bool_dtype(table[k])]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_against(table: pd.DataFrame, param: str, metrics: list[str], path: Path,
                 title: str) -> None:
    plt = _plt()
    ok = table[table["status"] == "ok"]
    cols = 2 if len(metrics) > 1 else 1
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.2 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        stats = ok.groupby(param)[metric].agg(["mean", "min", "max"]).sort_index()
        ax.scatter(ok[param], ok[metric], s=10, color="0.6", label="points", zorder=2)
        ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.25,
                        color="tab:blue", label="min..max", zorder=1)
        ax.plot(stats.index, stats["mean"], "o-", color="tab:blue", label="mean", zorder=3)
        ax.set_xlabel(_label(param))
        ax.set_ylabel(_label(metric))
        ax.set_title(metric.removeprefix(METRIC_PREFIX), fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8, ncols=3)
    fig.suptitle(title, fontsize=11, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_heatmap(table: pd.DataFrame, x: str, y: str, metric: str, path: Path) -> None:
    plt = _plt()
    ok = table[table["status"] == "ok"]
    grid = ok.pivot_table(index=y, columns=x, values=metric, aggfunc="mean").sort_index()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    image = ax.imshow(grid.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(grid.columns)), [f"{v:g}" for v in grid.columns])
    ax.set_yticks(range(len(grid.index)), [f"{v:g}" for v in grid.index])
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    fig.colorbar(image, ax=ax, label=_label(metric))
    ax.set_title(f"{metric.removeprefix(METRIC_PREFIX)} (mean over replicates)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")


def write_report(out: Path) -> Path:
    """Rewrite sweep.parquet, the plots and report.md of a sweep folder."""
    table = write_table(out)
    info = json.loads((out / SWEEP_FILE).read_text())
    spec = info["spec"]
    keys = [k for k in parameter_keys(out) if k in table]
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    for old in plots.glob("*.png"):
        old.unlink()
    metrics = varying_metrics(table)
    counts = table["status"].value_counts().to_dict()
    lines = [f"# Sweep report: {spec['name']}", "", spec.get("description") or "", "",
             f"- Base scenario: `{Path(info['scenario']).name}`; fixed overrides: "
             f"{', '.join(f'`{k}={v}`' for k, v in spec.get('set', {}).items()) or 'none'}",
             f"- Points: {len(table)} ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
             f"replicates: {spec['parameters'].get('replicates', 1)}; seed: {spec['seed']} "
             f"({spec.get('seeds', 'per_point')})",
             f"- Wall time per point [s]: median {table['wall_time_s'].median():.2f}" if
             table["wall_time_s"].notna().any() else "- Wall time per point [s]: -",
             "- Data: `sweep.parquet` (one row per point), `points/<id>/`", ""]
    failed = table[table["status"] != "ok"]
    if len(failed):
        lines += ["## Points not complete", "", "| id | status | error |", "|---|---|---|"]
        lines += [f"| {r.id} | {r.status} | {_cell(r.error)} |" for r in failed.itertuples()]
        lines.append("")
    shown = [*keys, "replicate", "status", "wall_time_s", *metrics[:4]]
    lines += ["## Points", "", "| id | " + " | ".join(shown) + " |",
              "|---" * (len(shown) + 1) + "|"]
    for _, row in table.iterrows():
        lines.append(f"| {row['id']} | " + " | ".join(_cell(row[c]) for c in shown) + " |")
    lines.append("")
    images = _plots(table, keys, metrics[:MAX_PLOTTED], plots, spec)
    if len(metrics) > MAX_PLOTTED:
        lines += [f"{len(metrics)} metrics vary across the points; the plots show the first "
                  f"{MAX_PLOTTED} in metrics.json order, `sweep.parquet` has them all.", ""]
    if images:
        lines += ["## Plots", "", "Each metric that varies across the points against each "
                  "numeric swept parameter (a zip's keys move together: against its first "
                  "numeric key): the mean over the other parameters and the replicates, the band "
                  "their min..max spread, grey dots the points.", ""]
        lines += [f"![{p.stem}](plots/{p.name})" for p in images] + [""]
    elif not metrics:
        lines += ["No metric varies across the complete points.", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _plots(table: pd.DataFrame, keys: list[str], metrics: list[str], plots: Path,
           spec: dict[str, Any]) -> list[Path]:
    if not metrics or not (table["status"] == "ok").any():
        return []
    written = []
    numeric = numeric_params(table, keys)
    form = Parameters.model_validate(spec["parameters"])
    zipped = [k for k in form.zip if k in numeric]
    walked = zipped[1:]  # a zip's keys move together: plot against its first numeric key
    for param in [k for k in numeric if k not in walked]:
        safe = param.replace(".", "_")
        for n, start in enumerate(range(0, len(metrics), PER_FIGURE)):
            part = metrics[start:start + PER_FIGURE]
            path = plots / f"vs_{safe}_{n + 1}.png"
            plot_against(table, param, part, path, f"Metrics vs {param} "
                         f"(figure {n + 1} of {(len(metrics) - 1) // PER_FIGURE + 1})")
            written.append(path)
    dims = [*form.grid, *zipped[:1]]  # a zip is one axis
    if len(dims) == 2 and not form.sampled and all(d in numeric_params(table, keys) for d in dims):
        for metric in metrics[:MAX_HEATMAPS]:
            path = plots / f"heatmap_{metric.removeprefix(METRIC_PREFIX).replace('.', '_')}.png"
            plot_heatmap(table, dims[0], dims[1], metric, path)
            written.append(path)
    return written
