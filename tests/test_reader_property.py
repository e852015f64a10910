"""Property: random malformed rows never crash the reader and never get lost (accepted + rejected = read)."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from conftest import MINI, write_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vsoko_toolkit import validate_folder

ALPHABET = st.sampled_from(list("0123456789абвгдежзийклмнопрстуфхцчшщыэюяАБВ ЁёqQ-./\\,;\t'\"\n"))
FIELD = st.one_of(st.text(ALPHABET, max_size=8), st.sampled_from(["н/а", "зач", "5", "year", "0001", "S01-2025-5А"]))
ROW = st.lists(FIELD, min_size=1, max_size=8)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, min_size=1, max_size=25), delimiter=st.sampled_from([",", ";"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]), crlf=st.booleans())
def test_random_rows_never_crash_and_are_all_accounted_for(rows, delimiter, encoding, crlf):
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp) / "d", MINI)
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n")
        w.writerow(MINI["period_marks"][0])
        w.writerows(MINI["period_marks"][1:])
        w.writerows(rows)
        text = buf.getvalue().encode(encoding, errors="replace")
        (folder / "period_marks.csv").write_bytes(text)
        rep = validate_folder(folder)
        pm = rep.tables.set_index("table").loc["period_marks"]
        # every record written is read: the four good rows plus every random one
        assert pm.read == 4 + len(rows)
        assert pm.accepted + pm.rejected == pm.read
        assert pm.accepted >= 4  # the good rows stay good
        rej = rep.rejects[rep.rejects.table == "period_marks"]
        assert rej["row"].nunique() == pm.rejected
        assert set(rej["row"]) <= set(range(6, 6 + len(rows)))
