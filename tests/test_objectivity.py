"""Objectivity: weighted kappa, and the planted inflated / deflated teachers of the sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vsoko_toolkit.analysis.objectivity import objectivity, weighted_kappa
from vsoko_toolkit.findings import validate_document


def test_weighted_kappa_hand_values():
    assert weighted_kappa([3, 4, 5], [3, 4, 5]) == pytest.approx(1.0)
    # 2 x 2 table on categories 3/4 only: quadratic weights reduce to the unweighted kappa
    a, b = [3, 3, 4, 4], [3, 4, 4, 4]
    assert weighted_kappa(a, b, categories=(3, 4)) == pytest.approx(0.5)
    assert np.isnan(weighted_kappa([], []))


def test_planted_marking_bias_found_with_sign(sample_con):
    truth = json.loads(Path("data_samples/municipality/truth.json").read_text(encoding="utf-8"))["marking_bias"]
    for b in truth:
        res = objectivity(sample_con, b["school_id"], 2025)
        validate_document({"school_id": b["school_id"], "year": 2025, "toolkit_version": "test",
                           "findings": [f.to_dict() for f in res.findings], "decision_evaluations": [],
                           "skipped": []})
        kinds = {(f.target_id, f.subject): f.kind for f in res.findings}
        print(f"\n{b['school_id']}: planted {b['teacher_id']} {b['direction']}; findings {kinds}")
        assert kinds.get((b["teacher_id"], b["subject"])) == f"{b['direction']}_marks"
        t = res.tidy()
        assert {"school", "subject", "class", "teacher"} <= set(t["level"])
        assert np.allclose(t[["lowered", "confirmed", "raised"]].sum(axis=1), 1)
        assert res.plot() is not None
