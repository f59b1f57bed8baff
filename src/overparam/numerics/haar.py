"""Haar-distributed matrices with orthonormal columns or rows, the one draw every orthogonal
init and orthogonal data set uses."""

from __future__ import annotations

import numpy as np


def haar(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Haar-distributed rows×cols matrix with orthonormal columns (rows ≥ cols) or rows
    (rows < cols): QR of a Gaussian with the signs of R's diagonal moved into Q.
    Costs O(max² · min); square matrices are the case rows = cols."""
    big, small = max(rows, cols), min(rows, cols)
    q, r = np.linalg.qr(rng.standard_normal((big, small)))
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return q if rows >= cols else q.T
