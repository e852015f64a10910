"""Every planted problem of the sample municipality reaches the key problems of its school's run, with at least one
supported cause and an addressed recommendation (issue 14).

A full pipeline run per school takes about a minute, so the findings are computed in-process by the analyses the
chapter notebooks call (``notebooks/school/02``–``08``), then the synthesis chapter's root-cause checks
(``analysis.root_causes.check_causes``, written back as ``updates`` and merged by ``findings.merge_parts``) and the
summary's ranking (``report.summary.key``): the same path as ``tests/test_public_build.py`` takes through papermill.
The municipal value-added fits are shared between the schools (memoised), so the five school-years take ~1 min.

The planted problems are read from ``truth.json``: the declining trend, the low value-added teachers (planted
ones and the declining trend's new teachers), the threshold peak, the marking-biased teachers, the task deficits
(in the year they were planted), a school effect below the municipal mean (results low across subjects: a key
low result whose general-level or intake cause is supported) and survey scales the generator put at least 0.3
below the other schools' mean. Problems known not to reach the key problems yet are marked ``xfail`` (not strict:
they turn into XPASS once found) with the reason and the module that owns it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsoko_toolkit.findings import merge_parts

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "municipality"
TRUTH = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))
YEAR = TRUTH["params"]["last_year"]
SCHOOL_EFFECT = -0.15  # a planted school mean at least this far below the municipality's (latent sd units)
SURVEY_EFFECT = -0.3  # a planted survey scale at least this far below the other schools' mean

# planted problems the toolkit does not bring to the key problems yet: (kind, school, detail) -> why, and whose
KNOWN_MISSES = {
    ("task_deficit", "S02", "S02-2025-5А"): "not found: with the hierarchical FDR (grade × skill units by Simes, "
                                            "then classes within) its p ≈ 0.001 is beaten by three unplanted tests "
                                            "and q ≈ 0.5; finding it would need a level at which the null rate "
                                            "exceeds 5 % (analysis/tasks.py)",
    ("task_deficit", "S03", "S03-2024-8А"): "found and key, but no cause is supported — rightly: the generator plants "
                                            "the deficit alone, with none of the causes the toolkit can test (intake, "
                                            "value added, staffing, attendance, marking, climate); a supported cause "
                                            "here would be a false one",
    ("survey", "S03", "climate"): "the scale is below the other schools (q < 0.01) but its Cronbach α < 0.7, and the "
                                  "climate analysis emits findings on reliable scales only (analysis/climate.py)",
    ("survey", "S04", "motivation"): "below the other schools beyond noise, but α < 0.7 (analysis/climate.py)",
    ("survey", "S04", "safety"): "below the other schools beyond noise, but α < 0.7 (analysis/climate.py)",
}


def planted_problems(truth: dict) -> list[dict]:
    """The problems planted in the sample: kind, school, year, subject and what identifies them."""
    out = []
    d = truth.get("declining_trend")
    if d:
        out.append({"kind": "declining_trend", "school": d["school_id"], "year": max(d["years"]),
                    "subject": d["subject"], "detail": d["subject"]})
    for p in truth.get("low_value_added", ()):
        out.append({"kind": "low_value_added", "school": p["school_id"], "year": YEAR, "subject": p["subject"],
                    "detail": p["teacher_id"]})
    p = truth.get("threshold_peak")
    if p:
        out.append({"kind": "threshold_peak", "school": p["school_id"], "year": p["year"], "subject": p["subject"],
                    "detail": f"{p['kind']}-{p['subject']}"})
    for b in truth.get("marking_bias", ()):
        out.append({"kind": "marking_bias", "school": b["school_id"], "year": YEAR, "subject": b["subject"],
                    "detail": b["teacher_id"], "direction": b["direction"]})
    for t in truth.get("task_deficits", ()):
        out.append({"kind": "task_deficit", "school": t["school_id"], "year": t["year"], "subject": t["subject"],
                    "detail": t["class_id"]})
    for sid, eff in truth.get("school_effects", {}).items():
        if eff <= SCHOOL_EFFECT:
            out.append({"kind": "school_effect", "school": sid, "year": YEAR, "subject": None,
                        "detail": f"{eff:+.2f}"})
    surveys = truth.get("survey_school_effects", {})
    for sid, scales in surveys.items():
        for scale, eff in scales.items():
            others = [v[scale] for s, v in surveys.items() if s != sid and scale in v]
            if others and eff - sum(others) / len(others) <= SURVEY_EFFECT:
                out.append({"kind": "survey", "school": sid, "year": YEAR, "subject": None, "detail": scale})
    return out


PLANTED = planted_problems(TRUTH)


def _param(p: dict):
    why = KNOWN_MISSES.get((p["kind"], p["school"], p["detail"]))
    marks = [pytest.mark.xfail(reason=why, strict=False)] if why else []
    return pytest.param(p, id=f"{p['school']}-{p['year']}-{p['kind']}-{p['detail']}", marks=marks)


def school_findings(con, school_id: str, year: int) -> dict:
    """The merged findings document of one school-year: the chapters' analyses, then the root causes."""
    from vsoko_toolkit.analysis.anomalies import score_anomalies
    from vsoko_toolkit.analysis.climate import climate
    from vsoko_toolkit.analysis.context import school_context
    from vsoko_toolkit.analysis.dynamics import results_dynamics
    from vsoko_toolkit.analysis.exams import exam_results
    from vsoko_toolkit.analysis.objectivity import objectivity
    from vsoko_toolkit.analysis.results import year_metrics
    from vsoko_toolkit.analysis.risk import risk_groups
    from vsoko_toolkit.analysis.root_causes import check_causes
    from vsoko_toolkit.analysis.tasks import task_analysis
    from vsoko_toolkit.analysis.value_added import value_added
    from vsoko_toolkit.indicators import evaluate_frameworks

    dyn = results_dynamics(con, school_id, year)
    results = [school_context(con, school_id, year), climate(con, school_id, year),  # 02
               year_metrics(con, school_id, year), dyn.comparisons, dyn.trends,  # 03
               objectivity(con, school_id, year), task_analysis(con, school_id, year),  # 04
               score_anomalies(con, school_id, year), exam_results(con, school_id, year),
               value_added(con, school_id, year, outcome="auto"),  # 05 (factor effects are never key problems)
               risk_groups(con, school_id, year, key=b"\x00" * 32),  # 07
               evaluate_frameworks(con, school_id, year)]  # 08
    parts = [{"findings": [f.to_dict() for f in r.findings], "decision_evaluations": [], "skipped": []}
             for r in results]
    rc = check_causes(con, school_id, year, merge_parts(parts)["findings"])  # 09
    parts.append({"findings": [], "decision_evaluations": [], "skipped": [], "updates": list(rc.updated)})
    return merge_parts(parts)


@pytest.fixture(scope="module")
def runs(sample_con):
    cache: dict = {}

    def get(school_id: str, year: int) -> dict:
        if (school_id, year) not in cache:
            cache[(school_id, year)] = school_findings(sample_con, school_id, year)
        return cache[(school_id, year)]
    return get


def _matches(p: dict, f: dict) -> bool:
    k, subj, det = p["kind"], p["subject"], p["detail"]
    if k == "declining_trend":
        return f["kind"] == "declining_trend" and f.get("subject") == subj
    if k == "low_value_added":
        return f["kind"] == "low_value_added" and f["target_id"] == det and f.get("subject") == subj
    if k == "threshold_peak":
        return f["kind"] == "threshold_peak" and f.get("subject") == subj
    if k == "marking_bias":
        kind = "inflated_marks" if p["direction"] == "inflated" else "deflated_marks"
        return f["kind"] == kind and f.get("subject") == subj and det in (f["target_id"], f.get("teacher_id"))
    if k == "task_deficit":
        return f["kind"] == "task_deficit" and f.get("subject") == subj and f["target_id"] in (det, "")
    if k == "survey":
        return f["kind"] == "climate_problem" and f.get("scale") == det
    return False


def _supported(fs: list[dict]) -> list[str]:
    return sorted({c["hypothesis"] for f in fs for c in f.get("causes", ()) if c["verdict"] == "supported"})


def _group(p: dict, probs: list[list[dict]]) -> list[dict] | None:
    """The key problem that holds the planted one."""
    if p["kind"] == "school_effect":  # results low across subjects: a low result traced to the general level
        for fs in probs:
            if any(f["kind"] == "low_result" for f in fs) and any(
                    h.startswith(("Общее отставание", "Отставание сложилось")) for h in _supported(fs)):
                return fs
        return None
    return next((fs for fs in probs if any(_matches(p, f) for f in fs)), None)


@pytest.mark.parametrize("planted", [_param(p) for p in PLANTED])
def test_planted_problem_is_a_key_problem_with_a_supported_cause_and_an_addressee(runs, planted):
    from vsoko_toolkit.report.summary import _recommendation, key

    doc = runs(planted["school"], planted["year"])
    probs = key(doc["findings"])
    fs = _group(planted, probs)
    found = [f for f in doc["findings"] if _matches(planted, f)]
    print(f"\n{planted['school']} {planted['year']} {planted['kind']} {planted['detail']}: "
          f"{len(found)} matching finding(s); key problems:")
    for g in probs:
        print(f"  - {g[0]['title']} | supported: {[h[:45] for h in _supported(g)]}")
    assert fs is not None, f"not among the {len(probs)} key problems ({len(found)} matching findings in the run)"
    assert _supported(fs), f"no supported cause: {fs[0]['title']}"
    rec = _recommendation(fs)
    assert rec and rec["addressee_type"] and rec["control_metric"], fs[0]["title"]
    if rec["addressee_type"] in ("teacher", "class", "grade"):
        assert rec["addressee_id"], fs[0]["title"]
    if planted["kind"] == "low_value_added":  # the decision goes to the planted teacher
        assert planted["detail"] in rec["addressee_id"].split(";"), rec
