"""Sweeps: many runs of one scenario with varied parameters (`gridfed sweep SWEEP.yaml`)."""
