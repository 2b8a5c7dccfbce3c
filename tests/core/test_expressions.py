"""Linear angle expressions: parsing, errors, arithmetic, evaluation and round trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qstore.core import CircuitError, Expr
from qstore.core.expressions import as_expr


@pytest.mark.parametrize(
    ("text", "terms", "const"),
    [
        ("2*x_0 + 0.5", {"x_0": 2.0}, 0.5),
        ("-theta/2", {"theta": -0.5}, 0.0),
        ("pi", {}, math.pi),
        ("-pi/2 + phi", {"phi": 1.0}, -math.pi / 2),
        ("2*(a + 1) - (b - a)/4", {"a": 2.25, "b": -0.25}, 2.0),
        ("  a\t*3   +\n b ", {"a": 3.0, "b": 1.0}, 0.0),
        ("x*2", {"x": 2.0}, 0.0),
        ("1e-3 * w + .5", {"w": 1e-3}, 0.5),
        ("+a - -b", {"a": 1.0, "b": 1.0}, 0.0),
        ("a - a + 3", {}, 3.0),
        ("theta_7", {"theta_7": 1.0}, 0.0),
        ("2.5E2", {}, 250.0),
        ("pi * a / pi", {"a": 1.0}, 0.0),
    ],
)
def test_parser_accepts_linear_expressions(text: str, terms: dict[str, float], const: float) -> None:
    expr = Expr.parse(text)
    assert dict(expr.terms) == pytest.approx(terms)
    assert expr.const == pytest.approx(const)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a*b", "not linear"),
        ("x*(y + 1)", "not linear"),
        ("1/x", "divide by a non-zero number"),
        ("a/0", "divide by a non-zero number"),
        ("a/(1 - 1)", "divide by a non-zero number"),
        ("", "empty"),
        ("   ", "empty"),
        ("2 +", "unexpected end"),
        ("(a + 1", "unexpected end|missing"),
        ("a + 1)", "unexpected '\\)'"),
        ("a $ b", "unexpected '\\$'"),
        ("a b", "unexpected 'b'"),
        ("sin(x)", "unexpected '\\('"),
        ("x**2", "unexpected '\\*'"),
        ("2 3", "unexpected '3'"),
    ],
)
def test_parser_rejects_non_linear_and_garbage_with_clear_errors(text: str, why: str) -> None:
    with pytest.raises(CircuitError, match=f"cannot parse angle .*{why}"):
        Expr.parse(text)


def test_arithmetic_on_expressions() -> None:
    a, b = Expr.symbol("a"), Expr.symbol("b")
    expr = 2 * a - b / 4 + 1.5
    assert dict(expr.terms) == {"a": 2.0, "b": -0.25}
    assert expr.const == 1.5
    assert (1 - a).const == 1.0 and (1 - a).coefficient("a") == -1.0
    assert -(a + 1) == Expr({"a": -1.0}, -1.0)
    assert a * Expr((), 3.0) == 3 * a
    assert (a - a).is_constant and (a - a).symbols == frozenset()
    assert (a + b).symbols == frozenset({"a", "b"})
    assert expr.coefficient("zzz") == 0.0
    with pytest.raises(CircuitError, match="linear"):
        _ = a * b


def test_canonical_equality_and_hashing() -> None:
    a, b = Expr.symbol("a"), Expr.symbol("b")
    assert a + b == b + a
    assert hash(a + b) == hash(b + a)
    assert Expr.parse("x + y") == Expr.parse("y + x")
    assert Expr({"a": 1, "b": 0}) == a
    assert Expr([("a", 1.0), ("a", 2.0)]) == 3 * a
    assert Expr.parse("2*a + 1") != Expr.parse("2*a + 1.0000001")


def test_evaluate_broadcasts_arrays() -> None:
    expr = Expr.parse("2*x - y + 0.5")
    x = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(expr.evaluate({"x": x, "y": 1.0}), 2 * x - 1 + 0.5)
    np.testing.assert_allclose(expr.evaluate({"x": x[:, None], "y": x[None, :]}), 2 * x[:, None] - x + 0.5)
    assert Expr((), 1.25).evaluate({}) == 1.25
    with pytest.raises(KeyError):
        expr.evaluate({"x": 1.0})


def test_as_expr_coerces_and_validates() -> None:
    assert as_expr(2) == Expr((), 2.0)
    assert as_expr(np.float32(0.5)) == Expr((), 0.5)
    assert as_expr("theta") == Expr.symbol("theta")
    expr = Expr.symbol("a")
    assert as_expr(expr) is expr
    for bad in (True, None, [1.0], 1j):
        with pytest.raises(CircuitError, match="must be a number"):
            as_expr(bad)  # type: ignore[arg-type]
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(CircuitError, match="finite"):
            as_expr(bad)


def test_invalid_symbol_names_are_rejected() -> None:
    for bad in ("2x", "a-b", "", "a b", "pi"):  # 'pi' would not survive str() -> parse()
        with pytest.raises(CircuitError, match="invalid symbol name"):
            Expr({bad: 1.0})


def test_str_and_json_forms() -> None:
    assert str(Expr.parse("2*x_0 + 0.5")) == "2*x_0 + 0.5"
    assert str(Expr.parse("-theta")) == "-theta"
    assert str(Expr.parse("a - 0.5")) == "a - 0.5"
    assert str(Expr((), 0.0)) == "0"
    assert Expr((), 1.5).to_json() == 1.5
    assert Expr.parse("2*a + 1").to_json() == {"terms": {"a": 2.0}, "const": 1.0}


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(lambda s: s != "pi")  # reserved
# str() prints coefficients with %g (six significant digits, for drawings); JSON is the lossless
# form. These coefficients survive %g exactly.
short_floats = st.integers(-4000, 4000).map(lambda n: n / 4)
any_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
exprs = st.builds(Expr, st.dictionaries(names, short_floats, max_size=4), short_floats)


@settings(deadline=None)
@given(exprs)
def test_str_round_trips_through_the_parser(expr: Expr) -> None:
    assert Expr.parse(str(expr)) == expr


@settings(deadline=None)
@given(st.builds(Expr, st.dictionaries(names, any_floats, max_size=4), any_floats))
def test_json_round_trip_is_exact(expr: Expr) -> None:
    data = json.loads(json.dumps(expr.to_json()))
    back = Expr((), data) if isinstance(data, float) else Expr(data["terms"], data["const"])
    assert back == expr


@settings(deadline=None)
@given(exprs, exprs, short_floats)
def test_arithmetic_agrees_with_evaluation(a: Expr, b: Expr, k: float) -> None:
    values = {name: 0.25 * (i + 1) for i, name in enumerate(sorted(a.symbols | b.symbols))}
    combined = a + k * b - a / 2
    want = a.evaluate(values) + k * b.evaluate(values) - a.evaluate(values) / 2
    assert float(combined.evaluate(values)) == pytest.approx(float(want), abs=1e-6 * (1 + abs(want)))
