"""What a run should find, read from the generator's truth file (shared by the sample and matrix tests)."""

from __future__ import annotations


def planted_findings(truth: dict, school_id: str, year: int) -> list[tuple[str, str, str]]:
    """``(kind, target_id, subject)`` of every effect planted in ``school_id`` that a run of ``year`` should
    report, in the truth's order (``target_id`` ``*``: any target, e.g. a subject-level trend)."""
    out: list[tuple[str, str, str]] = []
    for b in truth.get("marking_bias", []):
        if b["school_id"] == school_id:
            out.append((f"{b['direction']}_marks", b["teacher_id"], b["subject"]))
    for kind in ("low_value_added", "high_value_added"):
        for b in truth.get(kind, []):
            if b["school_id"] == school_id:
                out.append((kind, b["teacher_id"], b["subject"]))
    for d in truth.get("task_deficits", []):
        if d["school_id"] == school_id and d["year"] == year:
            out.append(("task_deficit", d["class_id"], d["subject"]))
    trend = truth.get("declining_trend") or {}
    if trend.get("school_id") == school_id:
        out.append(("declining_trend", "*", trend["subject"]))
    peak = truth.get("threshold_peak") or {}
    if peak.get("school_id") == school_id and peak.get("year") == year:
        out.append(("threshold_peak", "*", peak["subject"]))
    for d in truth.get("literacy_deficits", []):
        if d["school_id"] == school_id and d["year"] == year:
            out.append(("literacy_deficit", str(d["grade"]), None))
    outflow = truth.get("graduate_outflow") or {}
    if outflow.get("school_id") == school_id and year in outflow.get("years", ()):
        out.append(("graduate_outflow", "*", None))
    talent = (truth.get("upbringing") or {}).get("talent_concentration") or {}
    if talent.get("school_id") == school_id and str(year) in talent.get("stars", {}):
        out.append(("talent_concentration", "*", None))
    return out


def matches(finding: dict, key: tuple[str, str, str]) -> bool:
    """Whether ``finding`` reports the planted ``key`` (a class deficit may be reported for its grade)."""
    kind, target, subject = key
    if finding["kind"] != kind or finding.get("subject") != subject:
        return False
    if target == "*" or finding["target_id"] == target:
        return True
    # a class's deficit shared by its parallel may be reported once for the grade
    return kind == "task_deficit" and finding.get("target_type") == "grade" or \
        kind == "literacy_deficit" and finding["target_id"] in finding.get("class_ids", [])  # one class of the grade


def found(findings: list[dict], keys) -> set[tuple[str, str, str]]:
    """The planted ``keys`` that some finding reports."""
    return {k for k in keys if any(matches(f, k) for f in findings)}
