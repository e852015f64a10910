"""No finding on noise: the results chapter on simulated null municipalities.

Null data (``tests/simnull.py``): students with persistent abilities, but no
class, school, teacher or year effects — any ``low_result`` or trend finding is
false. Across 200 seeded municipalities the share of runs with any finding must
stay within 5 % plus Monte-Carlo error (2 standard errors of a binomial share).
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor

from simnull import null_warehouse

from vsoko_toolkit.analysis.dynamics import results_dynamics

N_SIM = 200
LEVEL = 0.05


def one(seed: int) -> int:
    con = null_warehouse(seed)
    try:
        # one optimizer (the engine's agreement checks are tested in test_mixed_engine)
        return int(bool(results_dynamics(con, "S01", 2025, n_boot=30, methods=("lbfgs",)).findings))
    finally:
        con.close()


def test_false_finding_rate_on_null_municipalities():
    with ProcessPoolExecutor(max_workers=2) as pool:
        hits = sum(pool.map(one, range(10_000, 10_000 + N_SIM), chunksize=10))
    rate = hits / N_SIM
    bound = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / N_SIM)
    print(f"\nnull municipalities: {hits}/{N_SIM} runs with a results/trend finding = {rate:.3f} (bound {bound:.3f})")
    assert rate <= bound
