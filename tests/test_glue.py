"""Our glue writes exactly what myst-nb's ``glue`` writes (the book reads it with myst-nb's ``{glue}`` role)."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from vsoko_toolkit.report.glue import _glue


@pytest.mark.parametrize("value", ["53,2 %", 17, 0.25, pd.DataFrame({"a": [1, 2]})])
def test_glue_output_equals_myst_nb(value):
    from myst_nb import glue

    InteractiveShell.instance()
    with capture_output() as ours:
        _glue("x", value)
    with capture_output() as theirs:
        glue("x", value, display=False)
    assert len(ours.outputs) == len(theirs.outputs) == 1
    a, b = ours.outputs[0], theirs.outputs[0]
    assert a.data == b.data and a.metadata == b.metadata
    assert all(k.startswith("application/papermill.record/") for k in a.data)
