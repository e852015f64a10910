"""The sample-municipality generator: contract shape, integrity, planted truth, dirty copy.

Small municipalities (3 schools x 3 years) keep the module fast; each planted effect
is checked in the raw generated tables (before any analysis) against truth.json,
with its planted sign and roughly its size, and checked absent under Plants.null().
Thresholds are set from the model's sampling noise at these sizes (seeded, so the
tests are deterministic).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vsoko_toolkit.contract.spec import NON_NUMERIC_MARKS, TABLES, VOCABULARIES
from vsoko_toolkit.synth import ModelParams, Plants, generate_municipality, make_dirty
from vsoko_toolkit.synth.dirty import RU_LABELS

SEED = 3


class Folder:
    """A generated folder with cached, all-text tables."""

    def __init__(self, path: Path, truth: dict):
        self.path, self.truth, self._t = path, truth, {}

    def __call__(self, table: str) -> pd.DataFrame:
        if table not in self._t:
            self._t[table] = pd.read_csv(self.path / f"{table}.csv", dtype=str, keep_default_na=False)
        return self._t[table]

    def classes(self) -> pd.DataFrame:
        c = self("classes").copy()
        c["year"], c["grade"] = c.year.astype(int), c.grade.astype(int)
        return c

    def year_marks(self) -> pd.DataFrame:
        pm = self("period_marks")
        y = pm[pm.period == "year"].merge(self.classes(), on="class_id")
        y = y.assign(v=pd.to_numeric(y.mark, errors="coerce"))
        return y.dropna(subset=["v"])

    def vpr(self) -> pd.DataFrame:
        a = self("assessments")
        v = a[a.kind == "VPR"].merge(self.classes(), on="class_id")
        return v.assign(m=v.mark.astype(int), j=pd.to_numeric(v.journal_mark, errors="coerce"))


@pytest.fixture(scope="module")
def muni(tmp_path_factory) -> Folder:
    out = tmp_path_factory.mktemp("muni")
    return Folder(out, generate_municipality(out, n_schools=3, n_years=3, seed=SEED))


@pytest.fixture(scope="module")
def null(tmp_path_factory) -> Folder:
    out = tmp_path_factory.mktemp("null")
    return Folder(out, generate_municipality(out, n_schools=3, n_years=3, seed=SEED, plants=Plants.null(),
                                             current_marks=False))


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> Folder:
    out = tmp_path_factory.mktemp("default")
    return Folder(out, generate_municipality(out, seed=1, current_marks=False))


@pytest.fixture(scope="module")
def dirty(muni, tmp_path_factory):
    out = tmp_path_factory.mktemp("dirty")
    return out, make_dirty(muni.path, out, seed=1)


# --- API and determinism ------------------------------------------------------------------------


def test_plants_switches():
    p, n = Plants(), Plants.null()
    assert not p.is_null and n.is_null
    assert n.size("marking_bias") == 0 and p.size("marking_bias") == p.marking_bias_size
    one = dataclasses.replace(n, threshold_peak=True)
    assert not one.is_null and one.size("threshold_peak") > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.value_added = False  # type: ignore[misc]
    with pytest.raises(ValueError):
        Plants(declining_trend_cause="weather")


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_deterministic_per_seed(tmp_path):
    a = _digest(_small(tmp_path / "a", 5))
    b = _digest(_small(tmp_path / "b", 5))
    c = _digest(_small(tmp_path / "c", 6))
    assert a == b
    assert {k for k in a if a[k] != c.get(k)} >= {"students.csv", "period_marks.csv", "truth.json"}


def _small(out: Path, seed: int, current_marks: bool = True) -> Path:
    generate_municipality(out, n_schools=2, n_years=2, seed=seed, current_marks=current_marks)
    return out


def test_omitting_current_marks_changes_nothing_else(tmp_path):
    a = _digest(_small(tmp_path / "a", 5))
    b = _digest(_small(tmp_path / "b", 5, current_marks=False))
    assert set(a) - set(b) == {"current_marks.csv"}
    assert all(a[k] == b[k] for k in b if k != "truth.json")


def test_rejects_too_small(tmp_path):
    with pytest.raises(ValueError):
        generate_municipality(tmp_path, n_schools=1, n_years=3)


# --- contract shape and integrity ----------------------------------------------------------------


def test_every_table_has_the_contract_columns(muni):
    written = {p.stem for p in muni.path.glob("*.csv")}
    assert written == set(TABLES)
    for name, spec in TABLES.items():
        assert list(muni(name).columns) == spec.names, name
        for col in spec.columns:
            values = muni(name)[col.name]
            if col.required:
                assert (values != "").all(), (name, col.name)
            if col.type == "code":
                used = set(values[values != ""])
                assert used <= set(VOCABULARIES[col.vocab]), (name, col.name, used)
            if col.type == "bool":
                assert set(values[values != ""]) <= {"true", "false"}, (name, col.name)
            if col.type == "date":
                v = values[values != ""]
                assert v.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all(), (name, col.name)
            if col.type == "mark":
                assert set(values) <= {"2", "3", "4", "5", *NON_NUMERIC_MARKS}, name
            if col.type in ("int", "float"):
                v = pd.to_numeric(values[values != ""])
                if col.low is not None and len(v):  # an empty table (municipal_decisions) has no values to check
                    assert v.min() >= col.low and v.max() <= col.high, (name, col.name)
                if col.type == "int":
                    assert (values[values != ""].str.fullmatch(r"-?\d+")).all(), (name, col.name)


def test_keys_unique(muni):
    for name, spec in TABLES.items():
        if spec.key:
            assert not muni(name).duplicated(list(spec.key)).any(), name
    assert muni("students").student_id.str.fullmatch(r"\d{6}").all()


def test_foreign_keys_resolve(muni):
    for name, spec in TABLES.items():
        for col in spec.columns:
            if col.ref:
                table, key = col.ref.split(".")
                values = muni(name)[col.name]
                missing = set(values[values != ""]) - set(muni(table)[key])
                assert not missing, (name, col.name, sorted(missing)[:3])
    # class ids carry school, year, grade and letter
    c = muni.classes()
    assert (c.class_id == c.school_id + "-" + c.year.astype(str) + "-" + c.grade.astype(str) + c.letter).all()


def test_one_class_per_year_and_marks_in_own_class(muni):
    en = muni("enrollments").merge(muni.classes(), on="class_id")
    multi = en[en.duplicated(["student_id", "year"], keep=False)]
    assert len(multi) > 0  # a few documented mid-year transfers exist
    for _, g in multi.groupby(["student_id", "year"]):
        assert len(g) == 2 and (g.date_out != "").sum() == 1 and (g.date_in != "").sum() == 1
        assert g.loc[g.date_out != "", "date_out"].iloc[0] < g.loc[g.date_in != "", "date_in"].iloc[0]
    pairs = set(zip(en.student_id, en.class_id, strict=True))
    for table in ("period_marks", "attendance", "assessments", "current_marks"):
        t = muni(table)
        assert set(zip(t.student_id, t.class_id, strict=True)) <= pairs, table
    # every student is enrolled; graduates leave; most students come back next year
    assert set(muni("students").student_id) == set(en.student_id)
    years = sorted(en.year.unique())
    grads = en[(en.year == years[0]) & (en.grade == 11)].student_id
    assert not grads.isin(en[en.year == years[1]].student_id).any()
    persist = en[en.year == years[0]].student_id.isin(en[en.year == years[1]].student_id).mean()
    assert 0.75 < persist < 0.95  # most students come back next year


def test_dates_inside_their_academic_year(muni):
    c = muni.classes().set_index("class_id").year
    for table, col in (("assessments", "date"), ("current_marks", "date"), ("enrollments", "date_in"),
                       ("enrollments", "date_out")):
        t = muni(table)
        t = t[t[col] != ""]
        d = pd.to_datetime(t[col])
        y = t.class_id.map(c)
        lo = pd.to_datetime((y - 1).astype(str) + "-09-01")
        hi = pd.to_datetime(y.astype(str) + "-08-31")
        assert ((d >= lo) & (d <= hi)).all(), table
    cm = pd.to_datetime(muni("current_marks").date)
    assert (cm.dt.day_of_week < 5).all()


def test_task_scores_within_max_and_sum_to_primary(muni):
    it = muni("assessment_items").assign(score=lambda d: d.score.astype(float))
    sp = muni("assessment_specs").assign(max_score=lambda d: d.max_score.astype(float))
    en = muni("enrollments").merge(muni.classes(), on="class_id").drop_duplicates(["student_id", "year"], keep="last")
    it = it.assign(year=it.year.astype(int)).merge(en[["student_id", "year", "grade"]], on=["student_id", "year"])
    sp = sp.assign(year=sp.year.astype(int), grade=sp.grade.astype(int))
    m = it.merge(sp, on=["kind", "subject", "grade", "year", "task"], how="left")
    assert m.max_score.notna().all()
    assert ((m.score >= 0) & (m.score <= m.max_score)).all()
    total = it.groupby(["student_id", "kind", "subject", "year"]).score.sum()
    a = muni("assessments").merge(muni.classes(), on="class_id")
    a = a.set_index(["student_id", "kind", "subject", "year"]).primary_score.astype(float)
    assert np.allclose(total, a.loc[total.index])


def test_scales_give_the_marks(muni):
    a = muni("assessments").merge(muni.classes(), on="class_id")
    a = a[a.kind.isin(["VPR", "OGE", "GVE"])]
    sc = muni("scales").assign(grade=lambda d: d.grade.astype(int), year=lambda d: d.year.astype(int),
                               min_primary=lambda d: d.min_primary.astype(float))
    cut = sc.pivot_table(index=["kind", "subject", "grade", "year"], columns="mark", values="min_primary")
    key = list(zip(a.kind, a.subject, a.grade, a.year, strict=True))
    thr = cut.loc[key].to_numpy()
    primary = a.primary_score.astype(float).to_numpy()[:, None]
    assert ((2 + (primary >= thr).sum(1)) == a.mark.astype(int).to_numpy()).all()
    ege = muni("assessments").query("kind == 'EGE'")
    assert (ege.mark == "").all() and ege.test_score.astype(float).between(0, 100).all()


# --- realism -----------------------------------------------------------------------------------


def test_mark_distributions_look_real(default):
    y = default.year_marks()
    mid = y[y.grade.between(5, 9)].v
    share = mid.value_counts(normalize=True)
    assert 0.005 < share[2] < 0.03
    assert 0.30 <= share[3] <= 0.42 and 0.35 <= share[4] <= 0.47 and 0.12 <= share[5] <= 0.25
    assert 0.45 <= (mid >= 4).mean() <= 0.62
    assert (y[y.grade <= 4].v >= 4).mean() > (mid >= 4).mean()
    non_numeric = default("period_marks").mark.isin(["н/а", "осв"]).mean()
    assert 0 < non_numeric < 0.01


def test_journal_vs_vpr_agreement(default):
    v = default.vpr().dropna(subset=["j"])
    confirmed, lowered, raised = (v.m == v.j).mean(), (v.m < v.j).mean(), (v.m > v.j).mean()
    assert 0.55 <= confirmed <= 0.65
    assert lowered > 1.5 * raised


def test_teacher_effects_recorded_for_every_teacher_and_subject(muni, null):
    taught = muni("assignments").groupby("teacher_id").subject.apply(set)
    te = muni.truth["teacher_effects"]
    assert set(te) == set(taught.index)
    assert all(set(te[t]) == s for t, s in taught.items())
    assert np.std([v for d in te.values() for v in d.values()]) > 0.05
    assert all(v == 0 for d in null.truth["teacher_effects"].values() for v in d.values())
    assert null.truth["null"] and not muni.truth["null"]


# --- planted effects ------------------------------------------------------------------------------


def _teacher_gap(f: Folder) -> pd.DataFrame:
    """Journal minus ВПР mark per teacher and subject, as a residual against comparable students.

    Comparable = same grade, subject, year and tenth of the ВПР score (the gap depends on the
    student's level: journal marks are floored at 3 more often than ВПР marks), among students
    outside the planted marking-bias teachers' and task-deficit classes (which would shift the
    reference for everybody else).
    """
    v = f.vpr().dropna(subset=["j"]).merge(f("assignments"), on=["class_id", "subject"])
    v["gap"] = v.j - v.m
    cell = ["grade", "subject", "year"]
    v["level"] = np.floor(10 * v.groupby(cell).primary_score.rank(pct=True)).clip(0, 9)
    planted = {(b["teacher_id"], b["subject"]) for b in f.truth["marking_bias"]}
    deficit = {(d["class_id"], d["subject"]) for d in f.truth["task_deficits"]}
    v["ref"] = [(t, s) not in planted and (c, s) not in deficit
                for t, s, c in zip(v.teacher_id, v.subject, v.class_id, strict=True)]
    ref = v[v.ref].groupby([*cell, "level"]).gap.mean().rename("expected")
    v = v.join(ref, on=[*cell, "level"])
    v["res"] = v.gap - v.expected
    g = v.groupby(["teacher_id", "subject"]).res.agg(["mean", "count"])
    g["z"] = g["mean"] / np.sqrt(v.res.var() / g["count"])
    g["deficit"] = v.groupby(["teacher_id", "subject"]).ref.all().eq(False) & ~g.index.isin(planted)
    return g[g["count"] >= 30]


def test_marking_bias_visible(muni):
    g = _teacher_gap(muni)
    bias = muni.truth["marking_bias"]
    assert {b["direction"] for b in bias} == {"inflated", "deflated"}
    for b in bias:
        row = g.loc[(b["teacher_id"], b["subject"])]
        sign = 1 if b["direction"] == "inflated" else -1
        # realised shift of year marks (deflation is damped: year marks rarely go below 3) and of
        # term marks (the ВПР sheet's journal mark is the third-quarter mark)
        assert sign * b["offset_marks"] > (0.3 if sign > 0 else 0.1)
        assert sign * b["offset_term_marks"] > 0.3
        assert sign * row["z"] > 4.5
        assert abs(row["mean"] - b["offset_term_marks"]) < 0.2
        assert b["class_ids"] and all(c.split("-")[0] == b["school_id"] for c in b["class_ids"])
    # teachers of a task-deficit class look inflated (their class lost points on the ВПР): skipped
    others = g.drop([(b["teacher_id"], b["subject"]) for b in bias])
    assert others[~others.deficit].z.abs().max() < 4


def test_marking_bias_absent_under_null(null):
    assert null.truth["marking_bias"] == []
    assert all(v == 0 for d in null.truth["teacher_leniency"].values() for v in d.values())
    assert _teacher_gap(null).z.abs().max() < 3.5


def test_task_deficit_visible(muni):
    deficits = muni.truth["task_deficits"]
    assert deficits
    it = muni("assessment_items").assign(score=lambda d: d.score.astype(float))
    sp = muni("assessment_specs")
    v = muni.vpr()
    for td in deficits:
        assert td["delta_pct"] > 15 and len(td["tasks"]) >= 2
        skills = sp[(sp.kind == "VPR") & (sp.subject == td["subject"]) & (sp.grade == str(td["grade"]))
                    & (sp.year == str(td["year"])) & sp.task.isin(td["tasks"])].skill
        assert set(skills) == {td["skill"]}
        w = it[(it.kind == "VPR") & (it.subject == td["subject"]) & (it.year == str(td["year"]))]
        w = w.merge(v[(v.subject == td["subject"]) & (v.year == td["year"]) & (v.grade == td["grade"])]
                    [["student_id", "class_id"]], on="student_id")
        mx = sp[(sp.kind == "VPR") & (sp.subject == td["subject"]) & (sp.grade == str(td["grade"]))
                & (sp.year == str(td["year"]))].set_index("task").max_score.astype(float)
        w["pct"] = 100 * w.score / w.task.map(mx)
        p = w.groupby([w.class_id == td["class_id"], w.task.isin(td["tasks"])]).pct.mean()
        gap = (p[True, True] - p[False, True]) - (p[True, False] - p[False, False])
        assert gap < -td["delta_pct"] / 2


def test_declining_trend_visible(muni):
    dt = muni.truth["declining_trend"]
    assert dt["cause"] == "teacher" and dt["details"]["teacher_ids"]
    assert {x["teacher_id"] for x in muni.truth["low_value_added"]} >= set(dt["details"]["teacher_ids"])
    y = muni.year_marks()
    y = y[(y.school_id == dt["school_id"]) & (y.subject == dt["subject"]) & (y.grade >= 5)]
    q = y.groupby("year").v.apply(lambda s: (s >= 4).mean())
    assert q.iloc[-1] < q.iloc[0] - 0.1 and q[q.index >= dt["from_year"]].max() < q.iloc[0]
    assert {str(k): round(v, 3) for k, v in q.items()} == {str(k): v for k, v in dt["quality_by_year"].items()}
    # the new teachers took over the subject in that school from the stated year
    c = muni.classes()
    asg = muni("assignments").merge(c, on="class_id")
    asg = asg[(asg.school_id == dt["school_id"]) & (asg.subject == dt["subject"]) & (asg.grade >= 5)
              & (asg.year >= dt["from_year"])]
    assert set(asg.teacher_id) <= set(dt["details"]["teacher_ids"])


def test_intake_cause(tmp_path):
    plants = dataclasses.replace(Plants.null(), declining_trend=True, declining_trend_cause="intake")
    f = Folder(tmp_path, generate_municipality(tmp_path, n_schools=2, n_years=3, seed=2, plants=plants,
                                               current_marks=False))
    dt = f.truth["declining_trend"]
    assert dt["cause"] == "intake" and sum(dt["details"]["replaced_students"].values()) > 0
    y = f.year_marks()
    q = y[(y.school_id == dt["school_id"]) & (y.grade >= 5)].groupby("year").v.mean()
    assert q.iloc[-1] < q.iloc[0] - 0.1


def test_no_trend_under_null(null):
    assert null.truth["declining_trend"] is None
    y = null.year_marks()
    q = y[(y.subject == "Математика") & (y.grade >= 5)].groupby(["school_id", "year"]).v.apply(lambda s: (s >= 4).mean())
    change = q.groupby(level=0).agg(lambda s: s.iloc[-1] - s.iloc[0])
    assert change.abs().max() < 0.2


def _did(f: Folder, d: dict) -> float:
    """Quality change from q1 to the later quarters, targets minus same-grade classes elsewhere."""
    pm = f("period_marks").merge(f.classes(), on="class_id")
    grade = int(d["target_ids"][0].split("-")[-1][:-1])
    pm = pm[(pm.subject == d["subject"]) & (pm.year == d["year"]) & (pm.grade == grade)
            & pm.period.isin(["q1", "q2", "q3", "q4"])]
    pm = pm.assign(v=pd.to_numeric(pm.mark, errors="coerce")).dropna(subset=["v"])
    q = pm.groupby([pm.class_id.isin(d["target_ids"]), pm.period != "q1"]).v.apply(lambda s: (s >= 4).mean())
    return (q[True, True] - q[True, False]) - (q[False, True] - q[False, False])


def test_decisions_effective_placebo_and_not_due(muni, null):
    reg = muni("decisions")
    kinds = {d["kind"]: d for d in muni.truth["decisions"]}
    assert {"effective", "placebo", "not_due"} <= set(kinds)
    assert set(reg.decision_id) == {d["decision_id"] for d in muni.truth["decisions"]}
    assert set(reg.metric) <= {"quality", "success", "mean_mark", "vpr_confirm_share", "vpr_mean_pct"}
    eff, pla, nd = kinds["effective"], kinds["placebo"], kinds["not_due"]
    assert eff["effect"] > 0.05 and pla["effect"] == 0 and nd["effect"] == 0
    assert 0.5 * eff["effect"] < _did(muni, eff) < 2 * eff["effect"] + 0.05
    last_end = f"{muni.truth['years'][-1]}-05-31"
    assert nd["date"] > last_end and reg.set_index("decision_id").loc[nd["decision_id"], "deadline"] > nd["date"]
    row = reg.set_index("decision_id").loc[eff["decision_id"]]
    assert row.target_ids == ";".join(eff["target_ids"]) and float(row.baseline) < float(row.target_value)
    assert all(d["kind"] in ("placebo", "not_due") and d["effect"] == 0 for d in null.truth["decisions"])


def _oge_math(f: Folder) -> pd.DataFrame:
    a = f("assessments").merge(f.classes(), on="class_id")
    a = a[(a.kind == "OGE") & (a.subject == "Математика")]
    return a.assign(p=a.primary_score.astype(float))


def test_threshold_peak_visible(muni, null):
    tp = muni.truth["threshold_peak"]
    thr = tp["threshold_score"]
    assert tp["n_moved"] >= 3 and tp["threshold_mark"] == 3
    sc = muni("scales")
    assert f"{thr}.0" in set(sc[(sc.kind == "OGE") & (sc.subject == "Математика") & (sc.mark == "3")].min_primary)
    a = _oge_math(muni)
    here = (a.school_id == tp["school_id"]) & (a.year == tp["year"])
    p = a[here].p
    # the scores just below the threshold emptied onto it; elsewhere no pile-up
    assert (p == thr).sum() >= tp["n_moved"] and (p == thr).sum() > p.between(thr - 4, thr - 1).sum()
    assert (p == thr).mean() > 1.5 * (a[~here].p == thr).mean()
    assert null.truth["threshold_peak"] is None
    n = _oge_math(null).p
    neighbours = sum((n == thr + k).sum() for k in (-2, -1, 1, 2)) / 4
    assert (n == thr).sum() < 2.2 * max(1.0, neighbours)


def test_resilient_school_visible(muni, null):
    rs = muni.truth["resilient_school"]
    s = muni("schools").assign(social_index=lambda d: d.social_index.astype(float))
    assert rs["school_id"] == s.loc[s.social_index.idxmin(), "school_id"]
    v = muni.vpr().groupby("school_id").m.mean()
    assert v.idxmax() == rs["school_id"]
    assert null.truth["resilient_school"] is None
    sn = null("schools").assign(social_index=lambda d: d.social_index.astype(float))
    low = sn.loc[sn.social_index.idxmin(), "school_id"]
    assert null.vpr().groupby("school_id").m.mean()[low] < null.vpr().m.mean() + 0.1


def test_value_added_extremes_visible(muni):
    # value added on year marks: residual of this year's centred mark on last year's (slope fitted)
    y = muni.year_marks()
    y["z"] = y.v - y.groupby(["grade", "year", "subject"]).v.transform("mean")
    prev = y[["student_id", "subject", "year", "z"]].assign(year=lambda d: d.year + 1)
    m = y.merge(prev, on=["student_id", "subject", "year"], suffixes=("", "_prev"))
    slope = np.polyfit(m.z_prev, m.z, 1)[0]
    m["res"] = m.z - slope * m.z_prev
    # compare within school (school x subject x year), as regression dilution leaves school level in res
    m["res"] -= m.groupby(["school_id", "year", "subject"]).res.transform("mean")
    g = m.merge(muni("assignments"), on=["class_id", "subject"]).groupby(["teacher_id", "subject"]).res.agg(
        ["mean", "count"])
    planted = {(x["teacher_id"], x["subject"]) for x in muni.truth["high_value_added"] + muni.truth["low_value_added"]}
    ref = g[(g["count"] >= 50) & ~g.index.isin(planted)]["mean"]
    q25, q75 = ref.quantile([0.25, 0.75])
    hi = [g.loc[(x["teacher_id"], x["subject"]), "mean"] for x in muni.truth["high_value_added"]]
    lo = [g.loc[(x["teacher_id"], x["subject"]), "mean"] for x in muni.truth["low_value_added"]
          if x["source"] == "value_added"]
    assert hi and lo
    assert min(hi) > q75 and max(lo) < q25 and min(hi) - max(lo) > 0.1


def _risk_fit(f: Folder):
    sm = pytest.importorskip("statsmodels.api")
    y = f.year_marks()
    fail = y.groupby(["student_id", "year"]).v.apply(lambda s: float((s == 2).any())).rename("fail")
    gpa = y.groupby(["student_id", "year"]).v.mean().rename("gpa").reset_index().assign(year=lambda d: d.year + 1)
    at = f("attendance").merge(f.classes(), on="class_id")
    at[["lessons_total", "lessons_missed"]] = at[["lessons_total", "lessons_missed"]].astype(int)
    ab = at.groupby(["student_id", "year"])[["lessons_total", "lessons_missed"]].sum()
    df = pd.concat([fail, (10 * ab.lessons_missed / ab.lessons_total).rename("absence"),
                    y.groupby(["student_id", "year"]).grade.first()], axis=1).dropna().reset_index()
    df = df.merge(gpa, on=["student_id", "year"])
    X = sm.add_constant(pd.DataFrame({"gpa": df.gpa - 4, "absence": df.absence,
                                      "primary": (df.grade <= 4).astype(float)}))
    return sm.Logit(df.fail, X).fit(disp=0)


def test_risk_model_recoverable(muni, null):
    rm = muni.truth["risk_model"]["coefficients"]
    r = _risk_fit(muni)
    assert r.params["gpa"] < 0 and abs(r.params["gpa"] - rm["prior_gpa"]) < 3 * r.bse["gpa"] + 0.3
    assert r.params["absence"] > 0 and abs(r.params["absence"] - rm["absence"]) < 3 * r.bse["absence"] + 0.2
    rn = _risk_fit(null)
    assert abs(rn.params["gpa"] / rn.bse["gpa"]) < 3.5
    assert null.truth["risk_model"]["coefficients"]["prior_gpa"] == 0


def test_surveys_olympiads_indicators_medals(muni):
    s = muni("surveys")
    items = muni("survey_items")
    assert set(s.respondent_type) == {"student", "parent", "teacher"}
    assert set(items.scale) == {"climate", "satisfaction", "motivation", "safety"} and (items.reverse == "true").any()
    assert (s[s.respondent_type == "teacher"].class_id == "").all()
    assert set(muni("indicators").indicator_id) >= {"computers_per_student", "library_books_per_student",
                                                     "site_meets_requirements"}
    ol = muni("olympiads")
    assert set(ol.stage) >= {"school", "municipal"} and set(ol.status) == {"participant", "prize", "winner"}
    en = muni("enrollments").merge(muni.classes(), on="class_id")
    medal = en[en.medal != ""]
    assert len(medal) > 0 and (medal.grade == 11).all()


def test_params_in_truth(muni):
    assert muni.truth["seed"] == SEED
    assert muni.truth["params"]["plants"] == Plants().as_dict()
    assert muni.truth["params"]["model"] == dataclasses.asdict(ModelParams())
    json.dumps(muni.truth)


# --- dirty copy ------------------------------------------------------------------------------------


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="cp1251", newline="") as fh:
        return list(csv.reader(fh, delimiter=";"))


def test_dirty_bad_rows_are_where_stated(dirty, muni):
    out, bad = dirty
    assert len(bad) >= 8
    assert set(bad.rule) >= {"range", "unique", "foreign_key", "max_score", "date_in_year", "type", "required"}
    assert pd.read_csv(out / "bad_rows.csv", dtype=str, keep_default_na=False).shape[0] == len(bad)
    for r in bad.itertuples():
        rows = _rows(out / f"{r.table}.csv")
        header = [h.lower() for h in rows[0]]
        assert rows[r.row - 1][header.index(r.column)] == r.value, r
    by_rule = dict(zip(bad.rule + bad.value, bad.table, strict=True))
    assert by_rule["range6"] == by_rule["range0"] == "period_marks"
    dup = bad[bad.rule == "unique"].iloc[0]
    ids = [row[0] for row in _rows(out / "students.csv")[1:]]
    assert ids.count(dup.value) == 2 and ids.index(dup.value) + 2 < dup.row
    for r in bad[bad.rule == "foreign_key"].itertuples():
        assert r.value not in set(muni("classes").class_id) | set(muni("students").student_id)


def test_dirty_rows_are_the_clean_rows_reencoded(dirty, muni):
    out, bad = dirty
    rows = _rows(out / "teachers.csv")
    assert rows[0] != list(muni("teachers").columns) and [h.lower() for h in rows[0]] == list(muni("teachers").columns)
    back = {v: k for k, v in RU_LABELS["category"].items()}
    assert [back[r[3]] for r in rows[1:]] == list(muni("teachers").category)
    assert {r[5] for r in rows[1:]} <= {"да", "нет"}
    pm = _rows(out / "period_marks.csv")
    inserted = ((bad.table == "period_marks") & (bad.rule.isin(["foreign_key", "mark_class"]))).sum()
    assert len(pm) - 1 == len(muni("period_marks")) + inserted
    labels = {v: k for k, v in RU_LABELS["period"].items()}
    bad_rows = set(bad[bad.table == "period_marks"].row)
    got = [(r[0], r[1], r[2], labels[r[3]], r[4]) for i, r in enumerate(pm[1:], start=2) if i not in bad_rows]
    clean = set(muni("period_marks").itertuples(index=False, name=None))
    assert len(got) == len(pm) - 1 - len(bad_rows) and set(got) <= clean
    a = _rows(out / "assessments.csv")
    assert all(len(r[4]) == 10 and r[4][2] == "." for r in a[1:])
