"""What a quantum layer returns: expectations, variances, probabilities, samples or states.

Expectations, variances and probabilities are all computed from measured expectation values, so
they are differentiable by every method, on every backend, with or without shots:

* ``variance``: ``<O²> - <O>²``, measuring each observable and its square (`Observable.squared`);
* ``probabilities`` of ``k`` qubits: the ``2**k`` expectations of Z-parities ``Z_S`` (every subset
  ``S`` of the qubits) mapped by the Walsh matrix ``W[S, b] = (-1)^{|S ∧ b|} / 2**k``. From shots,
  all parities come from the same samples, so this is the empirical distribution exactly.

``samples`` (``(B, shots, n_qubits)`` bits, qubit 0 first) and ``state`` (``(B, 2**n)`` amplitudes)
come straight from the backend and carry no gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from qstore.core.errors import CapabilityError
from qstore.core.observables import Observable, PauliString

__all__ = ["OUTPUT_KINDS", "LayerOutput", "layer_output"]

OUTPUT_KINDS = ("expectation", "variance", "probabilities", "samples", "state")


@attrs.frozen(eq=False)
class LayerOutput:
    """How a layer's output is made from what the backend measures."""

    kind: str
    measured: tuple[Observable, ...]
    width: int
    """Output columns per shot count (for ``samples``: qubits per sample)."""
    walsh: np.ndarray | None = None

    @property
    def differentiable(self) -> bool:
        """Whether the output is a function of measured expectations (and so has gradients)."""
        return self.kind in ("expectation", "variance", "probabilities")

    def finish(self, measured: Any, walsh: Any = None) -> Any:
        """Map ``(..., len(measured))`` expectations to the output, with the framework's own ops
        (torch tensors, tf tensors and NumPy arrays all support the slicing, ``**`` and ``@`` used);
        ``walsh`` is `walsh` converted to the framework's tensor type."""
        if self.kind == "variance":
            k = len(self.measured) // 2
            return measured[..., k:] - measured[..., :k] ** 2
        if self.kind == "probabilities":
            return measured @ walsh
        return measured


def layer_output(
    kind: str, observables: Sequence[Observable], n_qubits: int, qubits: Sequence[int] | None = None
) -> LayerOutput:
    """The `LayerOutput` of ``kind`` for a layer measuring ``observables`` on ``n_qubits``.

    ``qubits`` selects the qubits of ``probabilities`` (default all, at most 12).
    """
    if kind not in OUTPUT_KINDS:
        raise CapabilityError(f"output must be one of {list(OUTPUT_KINDS)}, got {kind!r}")
    if qubits is not None and kind != "probabilities":
        raise CapabilityError(f"output_qubits applies to output='probabilities' only, not {kind!r}")
    observables = tuple(observables)
    if kind == "expectation":
        return LayerOutput(kind, observables, len(observables))
    if kind == "variance":
        return LayerOutput(kind, observables + tuple(o.squared() for o in observables), len(observables))
    if kind == "samples":
        return LayerOutput(kind, (), n_qubits)
    if kind == "state":
        return LayerOutput(kind, (), 2**n_qubits)
    chosen = tuple(range(n_qubits)) if qubits is None else tuple(qubits)
    if not chosen or len(set(chosen)) != len(chosen) or not all(0 <= q < n_qubits for q in chosen):
        raise CapabilityError(f"output_qubits must be distinct qubits in 0..{n_qubits - 1}, got {qubits!r}")
    k = len(chosen)
    if k > 12:
        raise CapabilityError(
            f"probabilities of {k} qubits would be {2**k} outputs; choose at most 12 qubits"
        )
    subsets = np.arange(2**k)
    parities = [
        Observable([PauliString(tuple((chosen[j], "Z") for j in range(k) if s >> (k - 1 - j) & 1))])
        for s in subsets
    ]
    overlap = np.vectorize(lambda s, b: bin(s & b).count("1") % 2)(subsets[:, None], subsets[None, :])
    walsh = (1 - 2 * overlap) / 2**k
    return LayerOutput(kind, tuple(parities), 2**k, walsh)
