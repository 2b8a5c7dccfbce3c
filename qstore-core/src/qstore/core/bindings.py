"""Binding symbols to batches of values: ``{name: array of shape (B,)}`` describes B circuits.

Scalars and length-1 arrays broadcast to the batch; state-preparation inputs bind to ``(B, 2**k)``
or ``(2**k,)`` arrays of normalised amplitudes. Missing, unknown or mis-shaped bindings are errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from qstore.core.circuit import Circuit, StatePreparation
from qstore.core.errors import BindingError

__all__ = ["Batch", "Bindings", "resolve_bindings"]

Bindings = Mapping[str, Any]

NORM_TOLERANCE = 1e-6


@attrs.frozen(eq=False)
class Batch:
    """A circuit with every symbol bound: ``size`` circuits of one structure."""

    circuit: Circuit
    size: int
    values: Mapping[str, np.ndarray]
    vectors: Mapping[str, np.ndarray]

    def angles(self, op: Any) -> list[np.ndarray]:
        """The angles of ``op`` for the whole batch, each of shape ``(size,)``."""
        return [np.broadcast_to(p.evaluate(self.values), (self.size,)) for p in op.params]

    def with_circuit(self, circuit: Circuit, values: Mapping[str, np.ndarray]) -> Batch:
        """The same batch for another circuit with extra or replaced symbol values."""
        return Batch(circuit, self.size, {**self.values, **values}, self.vectors)


def resolve_bindings(circuit: Circuit, bindings: Bindings | None = None) -> Batch:
    """Validate ``bindings`` against the circuit and broadcast them to one batch size.

    A binding name that is not a symbol of the circuit is an error that suggests the closest
    symbol names (``{"thetta": ...}`` -> did you mean 'theta'?).
    """
    if not isinstance(circuit, Circuit):
        raise BindingError(f"circuit must be a qstore Circuit, got {type(circuit).__name__}")
    if bindings is None:
        bindings = {}
    if not isinstance(bindings, Mapping):
        raise BindingError(
            f"bindings must be a mapping of symbol name to values, e.g. {{'theta': [0.1, 0.2]}}, "
            f"got {type(bindings).__name__} {bindings!r:.80}"
        )
    odd = [key for key in bindings if not isinstance(key, str)]
    if odd:
        raise BindingError(f"binding names must be strings (symbol names), got {odd[0]!r}")
    bindings = dict(bindings)
    scalars = set(circuit.symbols)
    vectors = {op.input: op for op in circuit.operations if isinstance(op, StatePreparation)}
    used = sorted(scalars | set(vectors))
    clash = sorted(scalars & set(vectors))
    if clash:
        raise BindingError(
            f"symbol(s) {clash} name both an angle symbol and a state-preparation input; rename one"
        )
    missing = sorted(set(used) - set(bindings))
    unknown = sorted(set(bindings) - set(used))
    if unknown:
        hints = [_suggestion(name, missing or used) for name in unknown]
        raise BindingError(
            f"binding(s) {unknown} are not symbols of this circuit{''.join(hints)}; it uses {used}"
        )
    if missing:
        raise BindingError(f"no value bound for symbol(s) {missing}; the circuit uses {used}")

    arrays: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    for name in scalars:
        try:
            raw = np.asarray(bindings[name])
        except (TypeError, ValueError):  # ragged nesting
            raw = np.asarray(None)
        if raw.dtype.kind == "c":  # NumPy would silently drop the imaginary part
            raise BindingError(f"symbol {name!r} must be bound to real numbers, got complex values")
        if raw.dtype.kind not in "biuf":  # None, strings, objects: refused rather than cast to NaN
            raise BindingError(f"symbol {name!r} must be bound to real numbers, got {bindings[name]!r:.80}")
        value = raw.astype(float)
        if value.ndim > 1:
            raise BindingError(f"symbol {name!r} must be a scalar or shape (B,), got shape {value.shape}")
        if not np.all(np.isfinite(value)):
            raise BindingError(f"symbol {name!r} has non-finite values (NaN or inf)")
        arrays[name] = value.reshape(-1) if value.ndim else value.reshape(1)
        if arrays[name].shape[0] != 1:
            sizes[name] = arrays[name].shape[0]

    vector_arrays: dict[str, np.ndarray] = {}
    for name, op in vectors.items():
        dim = 2 ** len(op.qubits)
        value = np.asarray(bindings[name])
        if not np.issubdtype(value.dtype, np.number):
            raise BindingError(f"state input {name!r} must be numeric, got dtype {value.dtype}")
        value = value.reshape(1, -1) if value.ndim == 1 else value
        if value.ndim != 2 or value.shape[1] != dim:
            raise BindingError(
                f"state input {name!r} on {len(op.qubits)} qubits needs shape (B, {dim}) or ({dim},), "
                f"got {np.shape(bindings[name])}"
            )
        if not np.all(np.isfinite(value)):
            raise BindingError(f"state input {name!r} has non-finite values (NaN or inf)")
        norms = np.linalg.norm(value, axis=1)
        bad = np.flatnonzero(np.abs(norms - 1) > NORM_TOLERANCE)
        if bad.size:
            raise BindingError(
                f"state input {name!r} must be normalised; row {bad[0]} has norm {norms[bad[0]]:.6g} "
                f"(normalise it, e.g. x / np.linalg.norm(x, axis=1, keepdims=True))"
            )
        vector_arrays[name] = value
        if value.shape[0] != 1:
            sizes[name] = value.shape[0]

    distinct = set(sizes.values())
    if len(distinct) > 1:
        raise BindingError(f"bindings disagree on the batch size: {dict(sorted(sizes.items()))}")
    size = distinct.pop() if distinct else 1
    if size == 0:
        raise BindingError("the batch is empty: bindings have length 0")
    arrays = {k: np.broadcast_to(v, (size,)) for k, v in arrays.items()}
    vector_arrays = {k: np.broadcast_to(v, (size, v.shape[1])) for k, v in vector_arrays.items()}
    return Batch(circuit, size, arrays, vector_arrays)


def _suggestion(name: str, symbols: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, symbols, n=2, cutoff=0.6)
    return f" ({name!r}: did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
