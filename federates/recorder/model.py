"""Pure recorder: long-format rows (time, signal, id, value) written in parquet parts.

Each chunk is a complete parquet file under `<output>/timeseries.parts/`, so a crash loses at
most the chunk in memory (the federate's writer thread, `writer.py`, may also hold up to a
chunk's worth of steps not yet turned into rows; a failure it sees coming writes them all).
`merge_parts` joins them into one `timeseries.parquet` at the end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from federates.messages import Payload

SCHEMA = pa.schema([
    ("time", pa.float64()),
    ("signal", pa.string()),
    ("id", pa.string()),
    ("value", pa.float64()),
])
SORT_KEYS = [("time", "ascending"), ("signal", "ascending"), ("id", "ascending")]
SORTED_METADATA = {b"gridfed.sorted_by": b"time,signal,id"}  # marks a part sorted as above
PARTS_DIR = "timeseries.parts"


def signal_prefix(key: str) -> str:
    """'grid/state' -> 'grid': a federate's payload fields become 'grid.<field>' signals."""
    return key.split("/", 1)[0]


class RecorderModel:
    def __init__(self, output_dir: Path, chunk_steps: int):
        import pandas  # noqa: F401 - pyarrow imports it on first write; do it before step 0

        self.parts = Path(output_dir) / PARTS_DIR
        self.parts.mkdir(parents=True, exist_ok=True)
        self.chunk_steps = chunk_steps
        self._cols: dict[str, list] = {name: [] for name in SCHEMA.names}
        self._steps = 0
        self._part = 0
        self.last_time = 0.0

    def add_payload(self, time: float, key: str, payload: Payload) -> None:
        rows = payload.rows()
        if not rows:
            return
        signals, idents, values = zip(*rows, strict=True)
        prefix = signal_prefix(key) + "."
        self._extend(time, [prefix + s for s in signals], idents, values)

    def add_vector(self, time: float, key: str, values: list[float]) -> None:
        signal = key.replace("/", ".")
        self._extend(time, [signal] * len(values), [str(i) for i in range(len(values))],
                     [float(v) for v in values])

    def _extend(self, time: float, signals: Sequence[str], idents: Sequence[str],
                values: Sequence[float]) -> None:
        """Append one block of rows (a payload's or a vector's) at once."""
        cols = self._cols
        cols["time"].extend([time] * len(signals))
        cols["signal"].extend(signals)
        cols["id"].extend(idents)
        cols["value"].extend(values)

    def end_step(self, time: float) -> None:
        self.last_time = time
        self._steps += 1
        if self._steps % self.chunk_steps == 0:
            self.flush()

    def flush(self) -> None:
        if not self._cols["time"]:
            return
        table = pa.table(self._cols, schema=SCHEMA).sort_by(SORT_KEYS)
        table = table.replace_schema_metadata(SORTED_METADATA)
        path = self.parts / f"part-{self._part:05d}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.rename(path)  # a part is either complete or absent
        self._part += 1
        self._cols = {name: [] for name in SCHEMA.names}
        (self.parts.parent / "progress.json").write_text(json.dumps({"time": self.last_time}))


def merge_parts(output_dir: Path) -> Path | None:
    """Join the parts into `timeseries.parquet` (sorted by time, signal, id); remove the parts.

    The recorder sorts each part and writes them in time order, so the join only sorts
    again when the parts overlap in time (parts written by some other means)."""
    parts_dir = Path(output_dir) / PARTS_DIR
    files = sorted(parts_dir.glob("part-*.parquet")) if parts_dir.is_dir() else []
    if not files:
        return None
    tables = [pq.read_table(f) for f in files]
    table = pa.concat_tables(tables).replace_schema_metadata(None)
    if not _in_order(tables):
        table = table.sort_by(SORT_KEYS)
    target = Path(output_dir) / "timeseries.parquet"
    tmp = target.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.rename(target)
    for f in parts_dir.iterdir():
        f.unlink()
    parts_dir.rmdir()
    return target


def _in_order(tables: list[pa.Table]) -> bool:
    """Each table marked sorted by the recorder, each one's times after the previous one's."""
    last = -math.inf
    for table in tables:
        if table.num_rows == 0:
            continue
        if (table.schema.metadata or {}).get(b"gridfed.sorted_by") != b"time,signal,id":
            return False
        times = table.column("time")
        if pc.min(times).as_py() <= last:
            return False
        last = pc.max(times).as_py()
    return True
