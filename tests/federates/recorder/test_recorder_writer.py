"""The recorder's writer thread: same parts as writing in the loop, errors surface, no loss."""

import pandas as pd
import pytest

from federates.messages import GridState
from federates.recorder.model import RecorderModel, merge_parts
from federates.recorder.writer import BackgroundWriter, RawValue
from tests.federates.recorder.test_recorder import state


def steps(n: int) -> list[tuple[float, list[RawValue]]]:
    return [(60.0 * k, [RawValue("grid/state", GridState, state(60.0 * k, 100.0 + k).to_wire()),
                        RawValue("grid/pcc_power", None, [100.0 + k, 1.0])]) for k in range(n)]


def test_writer_thread_writes_what_the_loop_would(tmp_path):
    direct = RecorderModel(tmp_path / "direct", chunk_steps=3)
    for t, values in steps(10):
        direct.add_payload(t, "grid/state", GridState.from_wire(values[0].value))
        direct.add_vector(t, "grid/pcc_power", values[1].value)
        direct.end_step(t)
    direct.flush()
    writer = BackgroundWriter(RecorderModel(tmp_path / "thread", chunk_steps=3),
                              max_pending_steps=2)  # a small queue: add_step must block
    for t, values in steps(10):
        writer.add_step(t, values)
    writer.close()  # drains the queue and writes the last, partial chunk
    a = pd.read_parquet(merge_parts(tmp_path / "direct"))
    b = pd.read_parquet(merge_parts(tmp_path / "thread"))
    assert len(a) == 10 * (len(state(0, 0).rows()) + 2)
    pd.testing.assert_frame_equal(a, b)


def test_an_error_on_the_writer_thread_reaches_the_loop(tmp_path):
    writer = BackgroundWriter(RecorderModel(tmp_path, chunk_steps=5), max_pending_steps=1)
    writer.add_step(0.0, [RawValue("grid/state", GridState, "{not json")])
    with pytest.raises(RuntimeError, match="recorder: writing failed"):
        for t, values in steps(50):  # the failure shows at a later step...
            writer.add_step(t + 60.0, values)
    with pytest.raises(RuntimeError, match="recorder: writing failed"):
        writer.close()  # ...and again when the writer is closed, which ends its thread
    assert not writer._thread.is_alive()
