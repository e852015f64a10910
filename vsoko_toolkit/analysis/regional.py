"""Regional roll-up of a batch: which municipalities have more (or fewer) schools with a given finding than the
rest of the region.

It is computed once per batch, from the schools' ``findings.json`` files and the school → municipality map;
no school is analysed again. For every finding kind and municipality:

* schools analysed (a school whose run failed is not counted), schools with at least one finding of the kind;
* that share, with its Wilson 95 % interval;
* the same share in the rest of the region (the other municipalities' schools) — the comparison;
* Fisher's exact test of the two shares (two-sided), with Benjamini–Hochberg q-values over the whole family
  (every municipality × every kind found in at least one school of the region).

A municipality is flagged when ``q < alpha``. With ten schools a municipality, only a large difference clears
that bar: the roll-up tells a regional centre where to look first, the schools' own books say why. On a
one-municipality batch there is nothing to compare: the table holds the shares and no test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..stats.intervals import bh_qvalues, wilson_interval

ALPHA = 0.05
FINDING_COLUMNS = ("municipality", "school_id", "area", "kind", "polarity", "severity", "target_type", "target_id",
                   "subject", "metric", "estimate", "ci_low", "ci_high", "q_value", "n", "title")
TABLE_COLUMNS = ("municipality", "area", "kind", "polarity", "schools", "flagged_schools", "share", "share_low",
                 "share_high", "rest_schools", "rest_flagged", "rest_share", "p_value", "q_value", "flagged",
                 "direction")


@dataclass(frozen=True)
class RegionalRollup:
    """The batch's findings, flattened, and the municipality × kind table (see the module docstring)."""

    year: int
    findings: pd.DataFrame
    table: pd.DataFrame
    schools: pd.DataFrame  # school_id, municipality, analysed (bool)
    alpha: float = ALPHA

    def tidy(self) -> pd.DataFrame:
        return self.table

    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["flagged"]]

    @property
    def municipalities(self) -> int:
        return int(self.schools["municipality"].nunique())


def read_findings(out, year: int, schools: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """Every analysed school's findings of ``year`` under the batch folder ``out`` (``out/<school>/<year>/``),
    one row per finding; and the set of schools whose ``findings.json`` exists."""
    rows, analysed = [], set()
    of = dict(zip(schools["school_id"], schools["municipality"], strict=True))
    for school in schools["school_id"]:
        path = Path(out) / str(school) / str(year) / "findings.json"
        if not path.is_file():
            continue
        analysed.add(str(school))
        for f in json.loads(path.read_text(encoding="utf-8")).get("findings", []):
            rows.append({"municipality": of[school], **{c: f.get(c) for c in FINDING_COLUMNS[1:]},
                         "school_id": str(school)})
    return pd.DataFrame(rows, columns=list(FINDING_COLUMNS)), analysed


def regional_rollup(findings: pd.DataFrame, schools: pd.DataFrame, year: int, alpha: float = ALPHA) -> RegionalRollup:
    """The roll-up of ``findings`` (rows as :func:`read_findings` gives) over ``schools`` (``school_id``,
    ``municipality``, ``analysed``)."""
    from scipy.stats import fisher_exact

    schools = schools.assign(municipality=schools["municipality"].fillna("").astype(str),
                             school_id=schools["school_id"].astype(str))
    done = schools[schools["analysed"].astype(bool)]
    # a finding counts only for an analysed school, under that school's municipality
    of = dict(zip(done["school_id"], done["municipality"], strict=True))
    findings = findings[findings["school_id"].astype(str).isin(of)]
    findings = findings.assign(municipality=findings["school_id"].astype(str).map(of))
    size = done.groupby("municipality")["school_id"].nunique()
    total = int(size.sum())
    kinds = (findings.groupby(["area", "kind"], dropna=False)["polarity"].first().reset_index()
             if len(findings) else pd.DataFrame(columns=["area", "kind", "polarity"]))
    hit = (findings.groupby(["kind", "municipality"])["school_id"].nunique()
           if len(findings) else pd.Series(dtype=int))
    in_region = hit.groupby(level=0).sum() if len(hit) else pd.Series(dtype=int)
    rows = []
    for k in kinds.itertuples(index=False):
        for muni, n in size.items():
            x = int(hit.get((k.kind, muni), 0))
            rest_n = total - int(n)
            rest_x = int(in_region.get(k.kind, 0)) - x
            p = fisher_exact([[x, int(n) - x], [rest_x, rest_n - rest_x]])[1] if rest_n > 0 else np.nan
            rows.append({"municipality": muni, "area": k.area, "kind": k.kind, "polarity": k.polarity,
                         "schools": int(n), "flagged_schools": x, "rest_schools": rest_n, "rest_flagged": rest_x,
                         "p_value": p})
    table = pd.DataFrame(rows, columns=[c for c in TABLE_COLUMNS if c not in
                                        ("share", "share_low", "share_high", "rest_share", "q_value", "flagged",
                                         "direction")])
    if len(table):
        table["share"] = table["flagged_schools"] / table["schools"]
        low, high = wilson_interval(table["flagged_schools"].to_numpy(), table["schools"].to_numpy())
        table["share_low"], table["share_high"] = low, high
        table["rest_share"] = table["rest_flagged"] / table["rest_schools"].where(table["rest_schools"] > 0)
        table["q_value"] = bh_qvalues(table["p_value"].to_numpy(float))
        table["flagged"] = (table["q_value"] < alpha).fillna(False).astype(bool)
        table["direction"] = np.where(table["share"] > table["rest_share"], "higher",
                                      np.where(table["share"] < table["rest_share"], "lower", ""))
        table = table.sort_values(["q_value", "municipality", "kind"], na_position="last").reset_index(drop=True)
    else:
        table = pd.DataFrame(columns=list(TABLE_COLUMNS)).astype({"flagged": bool})
    return RegionalRollup(year=int(year), findings=findings, table=table[list(TABLE_COLUMNS)],
                          schools=schools, alpha=alpha)
