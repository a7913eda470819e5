"""Element-wise medians of a few arrays by compare-exchange networks.

The analyzer's harmonic/percussive split takes medians of 9 rows and of 5 bands for every
cell of every block. ``np.partition`` over sliding windows spends most of its time on
per-window overhead; a fixed network of ``np.minimum``/``np.maximum`` over whole arrays
does the same selection about three times faster on a block of rows, and returns exactly the
same values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Compare-exchange pairs (i, j): afterwards element i holds the smaller value and j the larger.
# After each network the middle element is the median (checked on every 0/1 input in the tests:
# by the 0-1 principle that holds for all inputs).
NETWORKS: dict[int, tuple[tuple[int, int], ...]] = {
    3: ((0, 1), (1, 2), (0, 1)),
    5: ((0, 1), (3, 4), (0, 3), (1, 4), (1, 2), (2, 3), (1, 2)),
    9: ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
        (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)),
}


def median_of(values: Sequence[np.ndarray]) -> np.ndarray:
    """The element-wise median of an odd number of same-shaped arrays."""
    k = len(values)
    if k % 2 == 0:
        raise ValueError(f"median_of needs an odd number of arrays, got {k}")
    network = NETWORKS.get(k)
    # (On a few hundred cells or fewer, the 19 steps of the 9-network cost more than one partition.)
    if network is None or (k > 5 and np.size(values[0]) < 384):
        return np.partition(np.stack(values, axis=-1), k // 2, axis=-1)[..., k // 2]
    v = list(values)
    for i, j in network:
        v[i], v[j] = np.minimum(v[i], v[j]), np.maximum(v[i], v[j])
    return v[k // 2]
