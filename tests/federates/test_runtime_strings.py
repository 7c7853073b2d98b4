"""String values read through the runtime's own buffer (not the binding's per-size parse)."""

import uuid

import helics as h

from federates.runtime import _input_string


def test_string_values_of_any_length_and_text_round_trip():
    name = f"b{uuid.uuid4().hex[:8]}"
    broker = h.helicsCreateBroker("inproc", name, "--federates=1")
    info = h.helicsCreateFederateInfo()
    h.helicsFederateInfoSetCoreTypeFromString(info, "inproc")
    h.helicsFederateInfoSetCoreInitString(info, f"--federates=1 --broker={name}")
    fed = h.helicsCreateValueFederate("strings", info)
    try:
        pub = h.helicsFederateRegisterGlobalPublication(fed, "s", h.HELICS_DATA_TYPE_STRING, "")
        sub = h.helicsFederateRegisterSubscription(fed, "s", "")
        h.helicsFederateEnterExecutingMode(fed)
        texts = ["", "x", "é ü 中文 ✓" * 50, "{" + '"k": 1.5,' * 3000 + "}", "a" * 1023,
                 "b" * 1024, "c" * 1025]
        for k, text in enumerate(texts):
            h.helicsPublicationPublishString(pub, text)
            h.helicsFederateRequestTime(fed, float(k + 1))
            assert _input_string(sub) == text == h.helicsInputGetString(sub)
    finally:
        h.helicsFederateDisconnect(fed)
        h.helicsFederateFree(fed)
        h.helicsBrokerDisconnect(broker)
        h.helicsCloseLibrary()
