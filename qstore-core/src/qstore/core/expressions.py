"""Angles as linear expressions of named symbols: ``2*x_0 + 0.5``, ``theta_7``, ``-phi/2``.

A symbol is a data input or a trainable weight; the IR does not care which. Keeping angles linear
means every derivative follows from the gate's own rule by the chain rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from qstore.core.errors import CircuitError

__all__ = ["Angle", "Expr", "as_expr"]

_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_]\w*)|(.))")


def _canonical_terms(terms: Any) -> tuple[tuple[str, float], ...]:
    merged: dict[str, float] = {}
    for name, coeff in dict(terms).items() if isinstance(terms, Mapping) else terms:
        if not isinstance(name, str) or not _SYMBOL.match(name) or name == "pi":
            raise CircuitError(
                f"invalid symbol name {name!r}: use letters, digits and underscores ('pi' means π)"
            )
        merged[name] = merged.get(name, 0.0) + float(coeff)
    return tuple(sorted((n, c) for n, c in merged.items() if c != 0.0))


@attrs.frozen
class Expr:
    """``const + Σ coeff·symbol``: a linear expression of named symbols."""

    terms: tuple[tuple[str, float], ...] = attrs.field(default=(), converter=_canonical_terms)
    const: float = attrs.field(default=0.0, converter=float)

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
        f = float(factor)
        return Expr(tuple((n, c * f) for n, c in self.terms), self.const * f)

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> Expr:
        return self * (1.0 / float(divisor))

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
    if not math.isfinite(float(value)):
        raise CircuitError(f"an angle must be finite, got {value!r}")
    return Expr((), float(value))


class _Parser:
    """Recursive-descent parser for linear expressions over + - * / and parentheses."""

    def __init__(self, text: str) -> None:
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
        expr = self.sum()
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
            return Expr((), float(tok[1]))
        if tok[0] == "name":
            return Expr((), math.pi) if tok[1] == "pi" else Expr.symbol(tok[1])
        raise self.fail(f"unexpected {tok[1]!r}")
