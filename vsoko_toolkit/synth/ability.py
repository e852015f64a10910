"""The latent ability of every student in every subject, year by year.

    theta[i, s, y] = b[i, s] + eta[i, s, y] + A[i, s, y]

* ``b``: stable part fixed at entry = school mean (social index, school residual,
  resilient boost) + class (lineage) effect + student general ability +
  student x subject deviation;
* ``eta``: AR(1) fluctuation, ``eta_y = rho * eta_{y-1} + sqrt(1 - rho^2) * sd_eta * xi``;
* ``A``: accumulated value added, ``A_y = lambda * A_{y-1} + tau[teacher(y), s] + delta_y``,
  where ``tau`` is the teacher's yearly effect and ``delta`` a decision's effect.

theta is measured relative to the national norm of the student's grade, so
the average yearly growth is absorbed into the grade norm (a student with
theta = 0 every year grows exactly as fast as the average Russian student).
"""

from __future__ import annotations

import numpy as np

from .params import ModelParams
from .population import Roster, StudentPool


def advance(rng: np.random.Generator, P: ModelParams, pool: StudentPool, roster: Roster,
            is_new: np.ndarray, T: np.ndarray, tau: np.ndarray, delta: np.ndarray | None = None
            ) -> np.ndarray:
    """Update ``eta`` and ``A`` of the roster's students for the roster's year; return theta.

    Parameters
    ----------
    is_new : ndarray of bool
        Students created this year (their ``eta`` is the initial draw, ``A`` is 0).
    T : ndarray, (n_classes, n_subjects)
        Teacher of every class and subject this year (-1 = not taught).
    tau : ndarray, (n_teachers, n_subjects)
        Yearly value added of every teacher in every subject.
    delta : ndarray, (len(roster), n_subjects), optional
        Extra latent gain this year (the effective decision).

    Returns
    -------
    ndarray, (len(roster), n_subjects)
        theta of every student of the roster.
    """
    stu = roster.stu
    old = ~is_new
    idx = stu[old]
    k = P.rho_eta
    pool.eta[idx] = k * pool.eta[idx] + np.sqrt(1 - k * k) * P.sd_eta * rng.normal(0, 1, (len(idx), pool.eta.shape[1]))
    pool.A[idx] *= P.persistence
    teach = T[roster.cls2]
    gain = np.where(teach >= 0, tau[np.maximum(teach, 0), np.arange(T.shape[1])[None, :]], 0.0)
    if delta is not None:
        gain = gain + delta
    pool.A[stu] += gain
    return pool.b[stu] + pool.eta[stu] + pool.A[stu]
