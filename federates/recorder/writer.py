"""The recorder's work (parse, flatten, write parts) on a thread of its own.

Under the broker's global time grants the recorder is granted in bursts (when the producers
reach the end of their slack), and while a burst runs everyone waits: whatever the recorder
does per step lands on the run's critical path. So its HELICS loop only copies each step's
raw values into a bounded queue, and this thread turns them into rows and parquet parts,
on the core the time loop leaves idle (the loop waits in HELICS with the GIL released).
Steps are processed in order, so the parts are those the loop itself would write.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from federates.messages import Payload
from federates.recorder.model import RecorderModel


@dataclass(frozen=True)
class RawValue:
    key: str  # publication key, e.g. 'grid/state'
    payload: type[Payload] | None  # the JSON payload model; None: a double vector
    value: str | list[float]


class BackgroundWriter:
    """Feeds a RecorderModel from a queue of steps, on one worker thread.

    `add_step` blocks once `max_pending_steps` steps wait (memory stays bounded), and
    re-raises the first error the worker met. `close` processes what is queued, writes the
    last part and re-raises the worker's error, if any: nothing received is dropped.
    """

    def __init__(self, model: RecorderModel, max_pending_steps: int):
        self.model = model
        self._queue: queue.Queue[tuple[float, list[RawValue]] | None] = queue.Queue(
            maxsize=max_pending_steps)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="recorder-writer", daemon=True)
        self._thread.start()

    def add_step(self, time: float, values: list[RawValue]) -> None:
        self._raise_if_failed()
        self._queue.put((time, values))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is None:
            self.model.flush()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"recorder: writing failed: {self._error!r}") from self._error

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so add_step never blocks on a dead worker
            try:
                self._record(*item)
            except BaseException as exc:  # noqa: BLE001 - reported to the loop's thread
                self._error = exc

    def _record(self, time: float, values: list[RawValue]) -> None:
        for value in values:
            if value.payload is None:
                self.model.add_vector(time, value.key, value.value)  # type: ignore[arg-type]
            else:
                self.model.add_payload(time, value.key,
                                       value.payload.from_wire(value.value))  # type: ignore[arg-type]
        self.model.end_step(time)
