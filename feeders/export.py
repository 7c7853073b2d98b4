"""Write a self-contained OpenDSS model (``master.dss`` + redirected files)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from feeders import builder
from feeders.tables import FeederTables


def export_model(t: FeederTables, directory: Path, taps: Mapping[str, int] | None = None,
                 lock_controls: bool = False) -> Path:
    """Write the model of ``t`` into ``directory`` (new or empty) and return ``master.dss``."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(
            f"refusing to overwrite {directory}: it exists and is not an empty directory"
        )
    directory.mkdir(parents=True, exist_ok=True)
    parts = {
        "linecodes.dss": builder.linecode_commands(t),
        "transformers.dss": builder.transformer_commands(t, regulators=False),
        "regulators.dss": builder.transformer_commands(t, regulators=True),
        "lines.dss": builder.line_commands(t),
        "capacitors.dss": builder.capacitor_commands(t),
        "loads.dss": builder.load_commands(t),
    }
    header = [f"! {t.meta['name']}: {t.meta['description']}",
              "! Written by gridfed (feeders.export) from the project's feeder tables."]
    master = header + builder.circuit_commands(t)
    for fname, cmds in parts.items():
        if cmds:
            (directory / fname).write_text("\n".join(cmds) + "\n", encoding="utf-8")
            master.append(f"Redirect {fname}")
    master += builder.voltage_base_commands(t)
    xy = t.buses.dropna(subset=["x", "y"])
    if len(xy):
        xy[["bus", "x", "y"]].to_csv(directory / "buscoords.csv", index=False, header=False)
        master.append("BusCoords buscoords.csv")
    master += builder.tap_commands(t, taps, lock_controls)
    master.append("Solve")
    path = directory / "master.dss"
    path.write_text("\n".join(master) + "\n", encoding="utf-8")
    return path
