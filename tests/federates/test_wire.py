"""Typed wire: messages carry their payload type and version; receivers dispatch on them and
drop (and count) what they do not expect, through a real in-process HELICS broker."""

from __future__ import annotations

import json
import uuid

import helics as h
import pytest

from federates.messages import (
    Payload,
    Response,
    Telemetry,
    envelope,
    open_envelope,
    payload_model,
    payload_ref,
)
from federates.runtime import Endpoint, Interfaces, StepIO, _register

RESP = Response(time=0, smo="65", scheduled_kw=5, achieved_kw=4)
TELE = Telemetry(time=0, smo="65", agents=["h1"], response_error_kw=[1.0], anomaly=[0.0],
                 messages_missed=[0])


class CustomReading(Payload):
    """A payload a custom kind defines outside federates.messages."""

    value: float


@pytest.fixture
def io():
    name = f"w{uuid.uuid4().hex[:8]}"
    broker = h.helicsCreateBroker("inproc", name, "--federates=1")
    info = h.helicsCreateFederateInfo()
    h.helicsFederateInfoSetCoreTypeFromString(info, "inproc")
    h.helicsFederateInfoSetCoreInitString(info, f"--federates=1 --broker={name}")
    fed = h.helicsCreateMessageFederate("wire", info)
    io = StepIO(fed=fed, name="wire")
    _register(fed, io, Interfaces(endpoints=[Endpoint(port="out"), Endpoint(port="in")]))
    h.helicsFederateEnterExecutingMode(fed)
    yield io
    h.helicsFederateDisconnect(fed)
    h.helicsFederateFree(fed)
    h.helicsBrokerDisconnect(broker)
    h.helicsCloseLibrary()


def test_receivers_dispatch_on_the_type_and_count_every_drop(io):
    io.send("out", "wire/in", RESP)
    io.send("out", "wire/in", TELE.to_wire(), Telemetry)  # pre-serialised hot path
    io.send("out", "wire/in", json.dumps({"time": 0}))  # untyped text
    io.send("out", "wire/in", envelope("Alert", 1, '{"time": 0}'))  # not expected here
    io.send("out", "wire/in", envelope("Response", 2, RESP.to_wire()))  # a newer version
    bad = RESP.to_wire().replace('"achieved_kw":4.0', '"achieved_kw":"lots"')
    io.send("out", "wire/in", envelope("Response", 1, bad))
    h.helicsFederateRequestTime(io.fed, 1.0)
    got = io.receive_from("in", Response, Telemetry)
    assert [p for _, p in got] == [RESP, TELE]
    assert {s for s, _ in got} == {"wire/out"}
    assert io.wire == {
        "received": 2,
        "dropped.in.untyped": 1,
        "dropped.in.type Alert": 1,
        "dropped.in.Response version 2 (expected 1)": 1,
        "dropped.in.invalid Response": 1,
    }


def test_a_message_of_one_type_never_validates_as_another(io):
    """A Response is not taken for a Telemetry even if a receiver only expects Telemetry."""
    io.send("out", "wire/in", RESP)
    h.helicsFederateRequestTime(io.fed, 1.0)
    assert io.receive("in", Telemetry) == []
    assert io.wire == {"dropped.in.type Response": 1}


def test_envelopes_written_by_other_tools_are_read_too():
    """Another key order and spacing (a federate in another language) parse as JSON."""
    other = json.dumps({"data": json.loads(RESP.to_wire()), "version": 1, "type": "Response"},
                       indent=2)
    ref, version, data = open_envelope(other)
    assert (ref, version) == ("Response", 1)
    assert Response.model_validate_json(data) == RESP
    assert open_envelope('{"type": "Response", "data": {}}') is None  # no version
    assert open_envelope("[1, 2]") is None and open_envelope("not json") is None


def test_payload_refs_name_custom_payloads_by_module():
    assert payload_ref(Response) == "Response"
    ref = payload_ref(CustomReading)
    assert ref == f"{__name__}:CustomReading"
    assert payload_model(ref) is CustomReading and payload_model("GridState").__name__ == \
        "GridState"
    with pytest.raises(KeyError, match="unknown payload type"):
        payload_model("NoSuchPayload")
