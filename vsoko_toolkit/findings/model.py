"""Findings, decision evaluations and skipped analyses (the findings contract).

The shape is fixed by ``shared/contract/FINDINGS.md``; ``schema.json`` beside
this module is its JSON schema, and :func:`validate_document` checks a
``findings.json`` against it. Extensions are compatible: the evaluation verdict
``not_due`` (a decision whose effect date has not passed) and method ``none``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Literal

Area = Literal["results", "trends", "objectivity", "assessments", "factors", "decisions", "risk", "conditions",
               "climate", "indicators", "metasubject", "upbringing", "talent", "self_determination"]
Verdict = Literal["supported", "not_supported", "inconclusive"]


def finding_id(kind: str, school_id: str, year: int, target_type: str, target_id: str, subject: str | None,
               metric: str = "") -> str:
    """Stable id: a hash of kind + target + subject + year (+ metric), the same on every re-run of the same data."""
    key = "|".join(map(str, (kind, school_id, year, target_type, target_id, subject or "", metric)))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Cause:
    hypothesis: str
    verdict: Verdict
    evidence: str


@dataclass(frozen=True)
class Recommendation:
    text: str
    addressee_type: str
    addressee_id: str
    responsible: str
    deadline: str  # YYYY-MM-DD
    control_metric: str
    baseline: float | None
    target: float | None


@dataclass(frozen=True)
class Finding:
    """One established problem or strength, with its evidence (see FINDINGS.md for each field)."""

    area: Area
    kind: str
    polarity: Literal["problem", "strength"]
    severity: Literal["high", "medium", "low"]
    school_id: str
    year: int
    target_type: str
    target_id: str
    subject: str | None
    metric: str
    estimate: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    q_value: float | None
    n: int
    title: str
    evidence: str
    causes: tuple[Cause, ...] = ()
    recommendation: Recommendation | None = None
    extra: dict = field(default_factory=dict)  # compatible extension fields (e.g. teacher_ids, tasks)

    @property
    def id(self) -> str:
        # two deficits of one class and subject differ by their skill; two outflows after grade 9 by profile
        skill = (self.extra or {}).get("skill") or (self.extra or {}).get("profile")
        return finding_id(self.kind, self.school_id, self.year, self.target_type, self.target_id, self.subject,
                          f"{self.metric}|{skill}" if skill else self.metric)

    def with_causes(self, causes) -> Finding:
        return replace(self, causes=tuple(causes))

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        d = {"id": self.id, **d}
        d["causes"] = [asdict(c) for c in self.causes]
        d["recommendation"] = asdict(self.recommendation) if self.recommendation else None
        d.update({k: v for k, v in extra.items() if k not in d})
        return clean(d)


@dataclass(frozen=True)
class DecisionEvaluation:
    decision_id: str
    metric: str
    baseline: float | None
    current: float | None
    target: float | None
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    method: Literal["did", "its", "pre_post", "none"]
    verdict: Literal["effective", "not_effective", "insufficient_data", "not_due"]
    explanation: str
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(d.pop("extra"))
        return clean(d)


@dataclass(frozen=True)
class Skipped:
    analysis: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def clean(obj):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python numbers, tuples -> lists."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@cache
def schema() -> dict:
    return json.loads(resources.files("vsoko_toolkit.findings").joinpath("schema.json").read_text(encoding="utf-8"))


def validate_document(doc: dict) -> None:
    """Raise ``jsonschema.ValidationError`` when ``doc`` does not follow the findings contract."""
    import jsonschema  # imported here: it takes seconds to import, and chapters never need it

    jsonschema.validate(doc, schema())


def merge_parts(parts: list[dict]) -> dict:
    """Findings, evaluations and skips of chapter parts: a finding emitted twice counts once, and a later
    chapter's ``updates`` (the same finding with its causes tested) replace the original in place."""
    seen: dict[str, int] = {}
    out = {"findings": [], "decision_evaluations": [], "skipped": []}
    for p in parts:
        for f in p["findings"]:
            if f["id"] not in seen:
                seen[f["id"]] = len(out["findings"])
                out["findings"].append(f)
        out["decision_evaluations"] += p["decision_evaluations"]
        out["skipped"] += p["skipped"]
    for p in parts:
        for f in p.get("updates", ()):
            if f["id"] in seen:
                out["findings"][seen[f["id"]]] = f
    return out
