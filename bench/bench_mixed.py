"""Wall time and peak memory of the mixed-model engine vs plain ``MixedLM.fit()``.

Run:  python bench/bench_mixed.py [--quick] [--sm-engine-300k] [--region-only] [--region-3m]

Data are simulated with numpy (seeded): students in classes of 25 in schools,
``y = 0.5 prior + 0.2 x + u_school + v_class + e`` (tau_school 0.3, tau_class 0.2,
sigma^2 1), several rows per student.  Scenarios:

* school        1 school, 1,000 students x 10 rows = 10,000 rows; random intercept of class;
* municipality  50,000 students x 1 row, 60 schools; class nested in school;
* 300k rows     50,000 students x 6 rows, 60 schools; class nested in school.

Region scenarios (issue 17, 4(d)) fit the value-added models of a whole region: ``y = 0.5 prior + 0.2 x +
u_unit + v_class + e`` (tau_unit 0.1, tau_class 0.05, sigma^2 1) with teacher units of 1-several classes
(every unit has one, the rest spread at random) and rows spread at random over classes; the fits are those of
``analysis/value_added.py``: ``fit_mixed(groups="unit", vc_formula={"class": "0 + C(class_id)"},
engine="fast", integrate_eb=True, early_stop=True)`` (teacher model) and ``groups="class_id"`` (class model).

* region 50k    50,000 rows, 1,000 teacher units, 3,000 classes: also plain statsmodels ``MixedLM.fit()``
                of both models, and the estimates compared (fixed effects, variances, EB effects of the units);
* region 1M     1,000,000 rows, 20,000 units, 60,000 classes (``--region-3m`` adds 3,000,000 rows, 60,000
                units, 180,000 classes).  Plain statsmodels is run where it finishes within
                ``SM_LIMIT_S`` (a larger size is skipped and said so).

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
REGION = {
    "region 50k": dict(n_rows=50_000, n_units=1_000, n_classes=3_000),
    "region 1M": dict(n_rows=1_000_000, n_units=20_000, n_classes=60_000),
    "region 3M": dict(n_rows=3_000_000, n_units=60_000, n_classes=180_000),
}
REGION_MODELS = {
    "teacher": dict(groups="unit", vc_formula={"class": "0 + C(class_id)"}),
    "class": dict(groups="class_id", vc_formula=None),
}
SM_LIMIT_S = 180  # plain statsmodels on a region size: skipped past this wall time
EB_SAMPLE = 300  # EB effects compared with statsmodels: the first units by label


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


def simulate_region(n_rows: int, n_units: int, n_classes: int, seed: int = 20260101) -> pd.DataFrame:
    """Rows of a region's value-added data: teacher units of one or more classes, rows spread over classes."""
    rng = np.random.default_rng(seed)
    unit_of_class = np.sort(np.concatenate([np.arange(n_units), rng.integers(0, n_units, n_classes - n_units)]))
    cls = rng.integers(0, n_classes, n_rows)
    u = rng.normal(0, np.sqrt(0.1), n_units)
    v = rng.normal(0, np.sqrt(0.05), n_classes)
    d = pd.DataFrame({"unit": unit_of_class[cls], "class_id": cls, "prior": rng.normal(size=n_rows),
                      "x": rng.normal(size=n_rows)})
    d["y"] = 0.5 * d.prior + 0.2 * d.x + u[d.unit] + v[cls] + rng.normal(size=n_rows)
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
    if name in REGION:
        return run_region(name, target)
    d = simulate(**SCENARIOS[name])
    spec = model_spec(name)
    from statsmodels.regression.mixed_linear_model import MixedLM

    from vsoko_toolkit.stats.mixed import fit_mixed

    base = _reset_peak()
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


def _reset_peak() -> int:
    """Reset the peak-RSS counter; the resident memory now."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return _status("VmRSS:")


def run_region(name: str, target: str) -> dict:
    """Child process for a region scenario: ``target`` is ``fast:<model>``, ``structured:<model>`` (the engine
    with ``REFERENCE_FOR_DERIVATIVES = False``) or ``plain:<model>``."""
    kind, model = target.split(":")
    d = simulate_region(**REGION[name])
    spec = REGION_MODELS[model]
    from statsmodels.regression.mixed_linear_model import MixedLM

    from vsoko_toolkit.stats import _mixed_fast
    from vsoko_toolkit.stats.mixed import fit_mixed

    if kind == "structured":  # the structured solver in the optimizers and the Hessian too
        _mixed_fast.REFERENCE_FOR_DERIVATIVES = False

    base = _reset_peak()
    t0 = time.perf_counter()
    if kind == "plain":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # with a vc_formula statsmodels drops the groups' random intercept unless re_formula asks for it
            res = MixedLM.from_formula(FORMULA, d, re_formula="1", **spec).fit()
        wall = time.perf_counter() - t0
        fe = [float(v) for v in res.fe_params]
        var = [float(res.cov_re.iloc[0, 0])] + [float(v) for v in res.vcomp] + [float(res.scale)]
        labels = sorted(res.random_effects)[:EB_SAMPLE]
        eb = [float(res.random_effects[g].iloc[0]) for g in labels]
        est = {"llf": float(res.llf), "converged": bool(res.converged)}
    else:
        res = fit_mixed(d, FORMULA, **spec, engine="fast", integrate_eb=True, early_stop=True)
        wall = time.perf_counter() - t0
        fe = res.fixed["estimate"].tolist()
        var = res.variance["estimate"].tolist()
        re = res.random_effects
        re = re[re["component"] == "Intercept"].set_index("group")["estimate"]  # the outer groups' effects
        labels = sorted(re.index)[:EB_SAMPLE]
        eb = re.loc[labels].tolist()
        est = {"llf": res.llf, "converged": res.converged, "engine": res.engine, "method": res.method,
               "warnings": res.warning_codes}
    return {"rows": len(d), "wall_s": wall, "peak_mb": (_status("VmHWM:") - base) / 2**20, "fixed": fe,
            "variances": var, "eb_labels": [str(g) for g in labels], "eb": eb, **est}


def measure(name: str, target: str, timeout: float | None = None) -> dict | None:
    """Run one measurement in a subprocess; None when it did not finish within ``timeout`` seconds."""
    try:
        out = subprocess.run([sys.executable, __file__, "--one", name, target], check=True,
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _max_rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def region(argv: list[str]) -> None:
    """Region-size value-added fits: our engine at every size, plain statsmodels where it finishes in time."""
    quick = "--quick" in argv
    names = ["region 50k"] if quick else ["region 50k", "region 1M"] + (["region 3M"] if "--region-3m" in argv
                                                                         else [])
    print(f"\n{'scenario':<12}{'model':<9}{'what':<34}{'rows':>11}{'time, s':>9}{'peak, MB':>10}  "
          f"{'llf':>14}  variances (unit/class, residual)")
    sm_ok = not quick
    for name in names:
        for model in REGION_MODELS:
            fast = measure(name, f"fast:{model}")
            print(f"{name:<12}{model:<9}{'fit_mixed(engine=fast, VA options)':<34}{fast['rows']:>11,}"
                  f"{fast['wall_s']:>9.2f}{fast['peak_mb']:>10.1f}  {fast['llf']:>14.3f}  "
                  f"{np.round(fast['variances'], 5).tolist()}  winner={fast['method']}")
            free = measure(name, f"structured:{model}")
            print(f"{name:<12}{model:<9}{'  the same, REFERENCE_FOR_DERIVATIVES=False':<34}{free['rows']:>11,}"
                  f"{free['wall_s']:>9.2f}{free['peak_mb']:>10.1f}  {free['llf']:>14.3f}  "
                  f"{np.round(free['variances'], 5).tolist()}  max rel. difference of the variances "
                  f"{_max_rel(free['variances'], fast['variances']):.1e}")
            if not sm_ok:
                continue
            plain = measure(name, f"plain:{model}", timeout=SM_LIMIT_S)
            if plain is None:
                print(f"{name:<12}{model:<9}{'plain MixedLM.fit()':<34}{fast['rows']:>11,}"
                      f"  skipped: did not finish in {SM_LIMIT_S} s")
                continue
            print(f"{name:<12}{model:<9}{'plain MixedLM.fit()':<34}{plain['rows']:>11,}{plain['wall_s']:>9.2f}"
                  f"{plain['peak_mb']:>10.1f}  {plain['llf']:>14.3f}  {np.round(plain['variances'], 5).tolist()}"
                  f"  converged={plain['converged']}")
            assert fast["eb_labels"] == plain["eb_labels"]
            print(f"{'':<21}same estimates? max relative difference: fixed effects "
                  f"{_max_rel(fast['fixed'], plain['fixed']):.1e}, variances "
                  f"{_max_rel(fast['variances'], plain['variances']):.1e}, EB effects of {len(fast['eb'])} "
                  f"{'units' if model == 'teacher' else 'classes'} max |diff| "
                  f"{np.max(np.abs(np.subtract(fast['eb'], plain['eb']))):.1e} "
                  f"(SD {np.std(plain['eb']):.3f}); llf {fast['llf'] - plain['llf']:+.2e}")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(argv[1], argv[2])))
        return
    quick = "--quick" in argv
    if "--region-only" not in argv:
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
    region(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
