"""IoT device populations: houses (secondary market agents) with HVAC, water heaters, PV,
batteries and EVs on the load buses of a feeder, grouped by bus (secondary market operator).

Pure, vectorised modules (numpy, one array per parameter, no loop over devices in a step):
- `weather`: built-in summer/winter day or CSV;  `loadshape`: plug-load daily shape
- `thermal` (two-node ETP, exact closed form; GridLAB-D HVAC curves, thermostat),
  `house_params` (GridLAB-D thermal-integrity draw and HVAC sizing), `waterheater`,
  `pv`, `battery`, `ev`: device physics
- `spec` (pydantic population spec, `ieee123_der` preset), `population` (builder)
- `model` (time step of the whole population), `flex` (bid ranges, setpoint splitting),
  `agents` (bids, setpoints, responses, telemetry, summary), `attacks`
- `config`, `federate` (thin HELICS wrapper, kind 'iot'), `report` (metrics and plots)
"""
