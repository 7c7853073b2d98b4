"""Residential plug/lighting load shape (normalised to a daily mean of 1)."""

from __future__ import annotations

import numpy as np

BASE_SHAPE = np.array([  # hourly, typical US residential non-HVAC load
    0.62, 0.55, 0.52, 0.50, 0.52, 0.62, 0.85, 1.05, 1.00, 0.92, 0.88, 0.88,
    0.90, 0.88, 0.88, 0.95, 1.10, 1.35, 1.55, 1.62, 1.55, 1.38, 1.10, 0.80])
BASE_SHAPE = BASE_SHAPE / BASE_SHAPE.mean()


def base_factor(t: float | np.ndarray, skew_s: np.ndarray) -> np.ndarray:
    """Shape value at time t [s] for every house (schedule skewed per house)."""
    hours = np.mod((t - skew_s) / 3600.0, 24.0)
    return np.interp(hours, np.arange(25.0), np.append(BASE_SHAPE, BASE_SHAPE[0]))
