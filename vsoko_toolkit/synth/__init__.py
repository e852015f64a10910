"""Sample municipality generator with planted truth (issue 4).

>>> from vsoko_toolkit.synth import Plants, generate_municipality, make_dirty
>>> truth = generate_municipality("out", n_schools=4, n_years=4, seed=1)  # doctest: +SKIP
>>> bad = make_dirty("out", "out_dirty", seed=1)  # doctest: +SKIP

The generating model is written out in ``docs/SYNTH_MODEL.md``.
"""

from .dirty import make_dirty
from .generator import generate_municipality
from .params import ModelParams, Plants

__all__ = ["ModelParams", "Plants", "generate_municipality", "make_dirty"]
