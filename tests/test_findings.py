"""The findings contract: JSON schema, stable ids, JSON-safe values."""

from __future__ import annotations

import math

import jsonschema
import pytest

from vsoko_toolkit.findings import Cause, Finding, Recommendation, Skipped, validate_document


def a_finding(**kw) -> Finding:
    base = dict(area="results", kind="low_result", polarity="problem", severity="high", school_id="S01", year=2025,
                target_type="class", target_id="S01-2025-7Б", subject="Математика", metric="quality",
                estimate=0.21, ci_low=0.12, ci_high=0.34, p_value=0.001, q_value=0.01, n=27,
                title="Низкое качество знаний по математике в 7Б",
                evidence="Качество 21 % (95 % ДИ 12–34 %) против 48 % в параллели.",
                causes=(Cause("Слабый набор", "not_supported", "В 6 классе качество было на уровне параллели."),),
                recommendation=Recommendation("Провести ...", "class", "S01-2025-7Б", "зам. по УВР", "2025-12-20",
                                              "quality", 0.21, 0.35))
    base.update(kw)
    return Finding(**base)


def doc(findings=(), skipped=()) -> dict:
    return {"school_id": "S01", "year": 2025, "toolkit_version": "0.1.0", "findings": [f.to_dict() for f in findings],
            "decision_evaluations": [], "skipped": [s.to_dict() for s in skipped]}


def test_a_complete_document_validates():
    validate_document(doc([a_finding()], [Skipped("risk_groups", "нет данных о посещаемости")]))


def test_ids_are_stable_and_distinguish_targets():
    assert a_finding().id == a_finding(estimate=0.5).id  # same kind + target + subject + year
    assert a_finding().id != a_finding(target_id="S01-2025-7А").id
    assert a_finding().id != a_finding(year=2024).id


def test_nan_becomes_null_and_still_validates():
    d = a_finding(ci_low=float("nan"), p_value=math.inf).to_dict()
    assert d["ci_low"] is None and d["p_value"] is None
    validate_document(doc([a_finding(ci_low=float("nan"))]))


@pytest.mark.parametrize("field,value", [("severity", "critical"), ("polarity", "bad"), ("area", "x"), ("n", -1)])
def test_contract_violations_are_caught(field, value):
    d = doc([a_finding()])
    d["findings"][0][field] = value
    with pytest.raises(jsonschema.ValidationError):
        validate_document(d)


def test_missing_top_level_key_is_caught():
    d = doc()
    del d["skipped"]
    with pytest.raises(jsonschema.ValidationError):
        validate_document(d)


def test_self_determination_kinds_validate_and_outflows_differ_by_profile():
    """Issue 18: area ``self_determination`` (kinds ``graduate_outflow``, ``profile_mismatch``); two outflows of one
    school and year differ by the profile in their id."""
    kw = dict(area="self_determination", kind="graduate_outflow", target_type="grade", target_id="9", subject=None,
              metric="outflow_share")
    tech, med = a_finding(**kw, extra={"profile": "technical"}), a_finding(**kw, extra={"profile": "medical"})
    assert tech.id != med.id
    validate_document(doc([tech, med, a_finding(**{**kw, "kind": "profile_mismatch", "target_id": "11"})]))
    assert tech.to_dict()["profile"] == "technical"
