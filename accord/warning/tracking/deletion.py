"""Track deletion rules (all vectorised over tracks).

A track is deleted when any of these holds:

* it has missed ``k`` consecutive detection opportunities (``k = tentative_misses`` before
  confirmation, ``confirmed_misses`` after) — with detection probability ``P_D`` a live target
  is lost this way with probability ``(1 − P_D)^k``;
* it has not been updated for ``max_coast_s`` seconds (targets that left every radar's coverage);
* its position standard deviation exceeds ``max_sigma_m`` (the estimate is no longer useful);
* it is below ``min_alt_m`` (it has impacted).
"""

from __future__ import annotations

import numpy as np


def to_delete(t: float, confirmed: np.ndarray, misses: np.ndarray, last_update: np.ndarray,
              alt_m: np.ndarray, pos_var: np.ndarray, *, tentative_misses: int, confirmed_misses: int,
              max_coast_tentative_s: float, max_coast_s: float, max_sigma_m: float,
              min_alt_m: float) -> np.ndarray:
    """Boolean mask of the tracks to delete at time ``t``."""
    k = np.where(confirmed, confirmed_misses, tentative_misses)
    coast = np.where(confirmed, max_coast_s, max_coast_tentative_s)
    return ((misses >= k) | (t - last_update > coast) | (pos_var > max_sigma_m**2)
            | (alt_m < min_alt_m))
