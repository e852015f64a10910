"""Wall time and peak memory of the mixed-model engine vs plain ``MixedLM.fit()``.

Run:  python bench/bench_mixed.py [--quick] [--sm-engine-300k]

Data are simulated with numpy (seeded): students in classes of 25 in schools,
``y = 0.5 prior + 0.2 x + u_school + v_class + e`` (tau_school 0.3, tau_class 0.2,
sigma^2 1), several rows per student.  Scenarios:

* school        1 school, 1,000 students x 10 rows = 10,000 rows; random intercept of class;
* municipality  50,000 students x 1 row, 60 schools; class nested in school;
* 300k rows     50,000 students x 6 rows, 60 schools; class nested in school.

Each measurement runs in its own subprocess: wall time of the fit call only, and
peak resident memory during the fit above the memory held before it (Linux
``VmHWM`` reset through ``/proc/self/clear_refs``).  ``engine=auto`` picks
statsmodels below 20,000 rows and the sufficient-statistics estimator above; the
statsmodels engine (5 optimizers) is also timed where it takes under a minute or
two (add ``--sm-engine-300k`` to time it on 300k rows too: about ten minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

SCENARIOS = {
    "school": dict(n_students=1_000, rows=10, n_schools=1),
    "municipality": dict(n_students=50_000, rows=1, n_schools=60),
    "300k rows": dict(n_students=50_000, rows=6, n_schools=60),
}
FORMULA = "y ~ prior + x"


def simulate(n_students: int, rows: int, n_schools: int, class_size: int = 25,
             seed: int = 20240901) -> pd.DataFrame:
    """Long data: one row per student and measurement."""
    rng = np.random.default_rng(seed)
    school = np.sort(rng.integers(0, n_schools, n_students))
    first = np.searchsorted(school, school)  # index of the school's first student
    class_id = (np.arange(n_students) - first) // class_size
    u = rng.normal(0, np.sqrt(0.3), n_schools)
    v = rng.normal(0, np.sqrt(0.2), (n_schools, class_id.max() + 1))
    sid = np.repeat(np.arange(n_students), rows)
    d = pd.DataFrame({"student": sid, "school": school[sid], "class_id": class_id[sid],
                      "prior": rng.normal(size=n_students)[sid], "x": rng.normal(size=len(sid))})
    d["y"] = (0.5 * d.prior + 0.2 * d.x + u[d.school] + v[d.school, d.class_id]
              + rng.normal(size=len(d)))
    return d


def model_spec(name: str) -> dict:
    if SCENARIOS[name]["n_schools"] == 1:
        return dict(groups="class_id", re_formula=None, vc_formula=None)
    return dict(groups="school", re_formula="1", vc_formula={"class": "0 + C(class_id)"})


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def run_one(name: str, target: str) -> dict:
    """Child process: simulate, fit once, report time, peak memory and the estimates."""
    d = simulate(**SCENARIOS[name])
    spec = model_spec(name)
    from statsmodels.regression.mixed_linear_model import MixedLM

    from vsoko_toolkit.stats.mixed import fit_mixed

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak-RSS counter
    except OSError:
        pass
    base = _status("VmRSS:")
    t0 = time.perf_counter()
    if target == "plain":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = MixedLM.from_formula(FORMULA, d, **spec).fit()
        est = {"llf": float(res.llf), "converged": bool(res.converged),
               "variances": [float(x) for x in np.diag(res.cov_re)] + list(map(float, res.vcomp))
               + [float(res.scale)]}
    else:
        engine = "statsmodels" if target == "engine-statsmodels" else "auto"
        res = fit_mixed(d, FORMULA, **spec, engine=engine)
        est = {"llf": res.llf, "converged": res.converged, "engine": res.engine,
               "method": res.method, "variances": res.variance.estimate.round(6).tolist(),
               "warnings": res.warning_codes}
    wall = time.perf_counter() - t0
    return {"rows": len(d), "wall_s": wall, "peak_mb": (_status("VmHWM:") - base) / 2**20, **est}


def measure(name: str, target: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", name, target], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(argv[1], argv[2])))
        return
    quick = "--quick" in argv
    print(f"{'scenario':<14}{'what':<42}{'rows':>9}{'time, s':>10}{'peak, MB':>10}  "
          f"{'llf':>14}  variances (school/class, residual)")
    for name in SCENARIOS:
        targets = ["engine-auto", "plain"]
        if name == "municipality" or (name == "300k rows" and "--sm-engine-300k" in argv):
            targets.insert(1, "engine-statsmodels")
        if quick and name != "school":
            targets = ["engine-auto"]
        for target in targets:
            r = measure(name, target)
            label = {"plain": "plain MixedLM.fit()",
                     "engine-statsmodels": "fit_mixed(engine='statsmodels')"}.get(
                target, f"fit_mixed(engine='auto' -> {r.get('engine')})")
            print(f"{name:<14}{label:<42}{r['rows']:>9,}{r['wall_s']:>10.2f}{r['peak_mb']:>10.1f}"
                  f"  {r['llf']:>14.3f}  {np.round(r['variances'], 4).tolist()}"
                  + (f"  winner={r['method']}" if "method" in r else
                     f"  converged={r['converged']}"))


if __name__ == "__main__":
    main(sys.argv[1:])
