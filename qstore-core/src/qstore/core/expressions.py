"""Angles as linear expressions of named symbols: ``2*x_0 + 0.5``, ``theta_7``, ``-phi/2``.

A symbol is a data input or a trainable weight; the IR does not care which. Keeping angles linear
means every derivative follows from the gate's own rule by the chain rule.

Every coefficient and constant is a finite float (``inf``, NaN and ``"1e999"`` are `CircuitError` s)
and ``-0.0`` is stored as ``0.0``, so equal expressions serialise, and hash, identically.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from qstore.core.errors import CircuitError

__all__ = ["Angle", "Expr", "as_expr"]

_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_]\w*)|(.))")


def _finite(what: str, value: Any) -> float:
    """``value`` as a finite float with ``-0.0`` made ``0.0``; a `CircuitError` naming ``what`` else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CircuitError(f"{what} must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise CircuitError(f"{what} must be finite, got {value!r}")
    return number + 0.0


def _canonical_terms(terms: Any) -> tuple[tuple[str, float], ...]:
    try:
        pairs = list(dict(terms).items() if isinstance(terms, Mapping) else terms)
        if not all(isinstance(pair, tuple | list) and len(pair) == 2 for pair in pairs):
            raise TypeError
    except TypeError:
        raise CircuitError(f"Expr terms must map symbol names to coefficients, got {terms!r}") from None
    merged: dict[str, float] = {}
    for name, coeff in pairs:
        if not isinstance(name, str) or not _SYMBOL.match(name) or name == "pi":
            raise CircuitError(
                f"invalid symbol name {name!r}: use letters, digits and underscores ('pi' means π)"
            )
        merged[name] = _finite(
            f"coefficient of {name!r}", merged.get(name, 0.0) + _finite(f"coefficient of {name!r}", coeff)
        )
    return tuple(sorted((n, c) for n, c in merged.items() if c != 0.0))


def _constant(value: Any) -> float:
    return _finite("Expr constant", value)


@attrs.frozen
class Expr:
    """``const + Σ coeff·symbol``: a linear expression of named symbols."""

    terms: tuple[tuple[str, float], ...] = attrs.field(default=(), converter=_canonical_terms)
    const: float = attrs.field(default=0.0, converter=_constant)

    @classmethod
    def symbol(cls, name: str) -> Expr:
        """The expression consisting of one symbol."""
        return cls(((name, 1.0),))

    @classmethod
    def parse(cls, text: str) -> Expr:
        """Parse ``"2*x_0 + 0.5"``, ``"theta"``, ``"-pi/2 + phi"`` (linear expressions only)."""
        return _Parser(text).parse()

    @property
    def symbols(self) -> frozenset[str]:
        """Names of the symbols this expression depends on."""
        return frozenset(n for n, _ in self.terms)

    @property
    def is_constant(self) -> bool:
        """True when the expression has no symbols."""
        return not self.terms

    def coefficient(self, name: str) -> float:
        """d(expr)/d(name)."""
        return dict(self.terms).get(name, 0.0)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Value for the given symbol values (numbers or arrays broadcast together)."""
        out: Any = self.const
        for name, coeff in self.terms:
            out = out + coeff * np.asarray(values[name], dtype=float)
        return out

    def __add__(self, other: Angle) -> Expr:
        other = as_expr(other)
        return Expr(self.terms + other.terms, self.const + other.const)

    __radd__ = __add__

    def __neg__(self) -> Expr:
        return self * -1.0

    def __sub__(self, other: Angle) -> Expr:
        return self + (-as_expr(other))

    def __rsub__(self, other: Angle) -> Expr:
        return as_expr(other) - self

    def __mul__(self, factor: float) -> Expr:
        if isinstance(factor, Expr):
            if not factor.is_constant:
                raise CircuitError("angles must be linear: cannot multiply two symbol expressions")
            factor = factor.const
        f = _finite("an Expr factor", factor)
        return Expr(tuple((n, c * f) for n, c in self.terms), self.const * f)

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> Expr:
        d = _finite(
            "an Expr divisor", divisor.const if isinstance(divisor, Expr) and divisor.is_constant else divisor
        )
        if d == 0.0:
            raise CircuitError("cannot divide an Expr by zero")
        return self * (1.0 / d)

    def __str__(self) -> str:
        parts = []
        for name, coeff in self.terms:
            parts.append(name if coeff == 1 else f"-{name}" if coeff == -1 else f"{coeff:g}*{name}")
        if self.const or not parts:
            parts.append(f"{self.const:g}")
        return " + ".join(parts).replace("+ -", "- ")

    def to_json(self) -> float | dict[str, Any]:
        """A number when constant, else ``{"terms": {name: coeff}, "const": c}``."""
        if self.is_constant:
            return self.const
        return {"terms": dict(self.terms), "const": self.const}


Angle = Expr | str | float | int


def as_expr(value: Angle) -> Expr:
    """Coerce a number, a symbol name, an expression string or an `Expr` into an `Expr`."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, str):
        return Expr.parse(value)
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise CircuitError(f"an angle must be a number, a symbol name or an Expr, not {value!r}")
    return Expr((), _finite("an angle", value))


class _Parser:
    """Recursive-descent parser for linear expressions over + - * / and parentheses."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise CircuitError(f"an angle expression must be a string, got {text!r}")
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        for number, name, other in _TOKEN.findall(text):
            if number:
                self.tokens.append(("num", number))
            elif name:
                self.tokens.append(("name", name))
            elif other.strip():
                self.tokens.append(("op", other))
        self.pos = 0

    def fail(self, why: str) -> CircuitError:
        return CircuitError(f"cannot parse angle {self.text!r}: {why}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end")
        self.pos += 1
        return tok

    def parse(self) -> Expr:
        if not self.tokens:
            raise self.fail("empty expression")
        try:
            expr = self.sum()
        except CircuitError as exc:  # an overflow found by Expr itself: say which text caused it
            raise exc if str(exc).startswith("cannot parse") else self.fail(str(exc)) from None
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return expr

    def sum(self) -> Expr:
        expr = self.product()
        while (tok := self.peek()) and tok[1] in "+-" and tok[0] == "op":
            self.take()
            rhs = self.product()
            expr = expr + rhs if tok[1] == "+" else expr - rhs
        return expr

    def product(self) -> Expr:
        expr = self.unary()
        while (tok := self.peek()) and tok[0] == "op" and tok[1] in "*/":
            self.take()
            rhs = self.unary()
            if tok[1] == "*":
                if not (expr.is_constant or rhs.is_constant):
                    raise self.fail("product of two symbols is not linear")
                expr = expr * rhs.const if rhs.is_constant else rhs * expr.const
            else:
                if not rhs.is_constant or rhs.const == 0:
                    raise self.fail("can only divide by a non-zero number")
                expr = expr / rhs.const
        return expr

    def unary(self) -> Expr:
        tok = self.take()
        if tok == ("op", "-"):
            return -self.unary()
        if tok == ("op", "+"):
            return self.unary()
        if tok == ("op", "("):
            expr = self.sum()
            if self.take() != ("op", ")"):
                raise self.fail("missing ')'")
            return expr
        if tok[0] == "num":
            if not math.isfinite(float(tok[1])):
                raise self.fail(f"number {tok[1]} is beyond the float range (not finite)")
            return Expr((), float(tok[1]))
        if tok[0] == "name":
            return Expr((), math.pi) if tok[1] == "pi" else Expr.symbol(tok[1])
        raise self.fail(f"unexpected {tok[1]!r}")
