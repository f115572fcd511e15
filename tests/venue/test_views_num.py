"""`views.num` (format spec made once, no re-parse unless the value may show as zero) against the
plain reference it replaced, for any float and precision."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from perpflow.venue.views import num


def plain(x: float, dp: int = 8) -> str:
    s = f"{x:.{dp}f}"
    return "0" if float(s) == 0 else s


@given(x=st.floats(allow_nan=True, allow_infinity=True), dp=st.integers(0, 12))
@example(x=5e-9, dp=8)
@example(x=-4.999999999e-9, dp=8)
@example(x=0.005, dp=2)
@example(x=-0.0, dp=3)
@example(x=1e-8, dp=8)
def test_num_equals_the_plain_format(x, dp):
    assert num(x, dp) == plain(x, dp)


@given(exp=st.floats(-14, 2), sign=st.sampled_from([-1.0, 1.0]), dp=st.integers(0, 12))
def test_num_near_the_last_decimal(exp, sign, dp):
    x = sign * 10**exp
    assert num(x, dp) == plain(x, dp)
