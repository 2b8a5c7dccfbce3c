"""Binding symbols to batches: broadcasting, and an error naming the symbol for every bad binding."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import BindingError, Circuit, resolve_bindings

CIRCUIT = Circuit(2).rx("a", 0).ry("2*b + c", 1)
PREP = Circuit(3).prepare_state("v", [0, 1]).rx("a", 2)


def test_scalars_and_length_one_arrays_broadcast_to_the_batch() -> None:
    batch = resolve_bindings(CIRCUIT, {"a": 0.5, "b": [1.0, 2.0, 3.0], "c": np.array([0.25])})
    assert batch.size == 3
    np.testing.assert_array_equal(batch.values["a"], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(batch.values["c"], [0.25, 0.25, 0.25])
    angles = batch.angles(CIRCUIT.operations[1])
    assert len(angles) == 1 and angles[0].shape == (3,)
    np.testing.assert_allclose(angles[0], [2.25, 4.25, 6.25])


def test_all_scalars_give_a_batch_of_one() -> None:
    batch = resolve_bindings(CIRCUIT, {"a": 1, "b": np.float32(2), "c": np.array(3.0)})
    assert batch.size == 1
    assert batch.values["b"].shape == (1,)


def test_a_circuit_without_symbols_needs_no_bindings() -> None:
    assert resolve_bindings(Circuit(1).h(0)).size == 1
    assert resolve_bindings(Circuit(1).h(0), {}).size == 1
    angles = resolve_bindings(Circuit(1).rx(0.3, 0)).angles(Circuit(1).rx(0.3, 0).operations[0])
    np.testing.assert_allclose(angles[0], [0.3])


def test_batch_size_mismatch_names_the_symbols_and_sizes() -> None:
    with pytest.raises(BindingError, match=r"disagree on the batch size: \{'a': 2, 'b': 3\}"):
        resolve_bindings(CIRCUIT, {"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0], "c": 0.0})
    with pytest.raises(BindingError, match=r"\{'a': 4, 'v': 2\}"):
        resolve_bindings(PREP, {"a": np.zeros(4), "v": np.eye(4)[:2]})


def test_missing_and_unknown_symbols() -> None:
    with pytest.raises(
        BindingError, match=r"no value bound for symbol\(s\) \['b', 'c'\]; the circuit uses \['a', 'b', 'c'\]"
    ):
        resolve_bindings(CIRCUIT, {"a": 1.0})
    with pytest.raises(BindingError, match=r"binding\(s\) \['d', 'z'\] are not symbols of this circuit"):
        resolve_bindings(CIRCUIT, {"a": 1.0, "b": 1.0, "c": 1.0, "z": 0.0, "d": 1.0})
    with pytest.raises(BindingError, match=r"\['v'\]"):
        resolve_bindings(PREP, {"a": 1.0})


def test_a_name_cannot_be_both_an_angle_symbol_and_a_state_input() -> None:
    circuit = Circuit(1).prepare_state("a").rx("a", 0)
    with pytest.raises(
        BindingError, match=r"\['a'\] name both an angle symbol and a state-preparation input"
    ):
        resolve_bindings(circuit, {"a": [1.0, 0.0]})


@pytest.mark.parametrize("bad", [np.nan, [0.0, np.inf], [-np.inf]])
def test_non_finite_values_are_rejected(bad: object) -> None:
    with pytest.raises(BindingError, match="symbol 'a' has non-finite values"):
        resolve_bindings(CIRCUIT, {"a": bad, "b": 0.0, "c": 0.0})


@pytest.mark.parametrize("bad", ["x", [1j], np.array([1 + 1j, 2]), {"k": 1}])
def test_non_real_values_are_rejected(bad: object) -> None:
    with pytest.raises(BindingError, match="symbol 'a' must be bound to real numbers"):
        resolve_bindings(CIRCUIT, {"a": bad, "b": 0.0, "c": 0.0})


def test_scalar_symbols_must_be_at_most_one_dimensional() -> None:
    with pytest.raises(
        BindingError, match=r"symbol 'a' must be a scalar or shape \(B,\), got shape \(2, 2\)"
    ):
        resolve_bindings(CIRCUIT, {"a": np.zeros((2, 2)), "b": 0.0, "c": 0.0})


def test_empty_batch_is_an_error() -> None:
    with pytest.raises(BindingError, match="empty"):
        resolve_bindings(CIRCUIT, {"a": [], "b": 0.0, "c": 0.0})


def test_state_inputs_accept_one_vector_or_a_batch() -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(5, 4)) + 1j * rng.normal(size=(5, 4))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    batch = resolve_bindings(PREP, {"v": rows, "a": 0.1})
    assert batch.size == 5 and batch.vectors["v"].shape == (5, 4)
    np.testing.assert_array_equal(batch.vectors["v"], rows)
    single = resolve_bindings(PREP, {"v": rows[0], "a": np.arange(3.0)})
    assert single.size == 3 and single.vectors["v"].shape == (3, 4)
    np.testing.assert_array_equal(single.vectors["v"][2], rows[0])
    assert resolve_bindings(PREP, {"v": [0, 0, 1, 0], "a": 0}).size == 1


@pytest.mark.parametrize("shape", [(3,), (2, 8), (4, 2), (1, 2, 4), ()])
def test_state_input_shape_errors_say_what_is_needed(shape: tuple[int, ...]) -> None:
    value = np.zeros(shape)
    value.reshape(-1)[:1] = 1.0
    with pytest.raises(BindingError, match=r"state input 'v' on 2 qubits needs shape \(B, 4\) or \(4,\)"):
        resolve_bindings(PREP, {"v": value, "a": 0.0})


def test_state_input_normalisation_error_names_the_row_and_fix() -> None:
    rows = np.eye(4)[:3].copy()
    rows[1] *= 2
    with pytest.raises(BindingError, match=r"'v' must be normalised; row 1 has norm 2 .*np\.linalg\.norm"):
        resolve_bindings(PREP, {"v": rows, "a": 0.0})
    with pytest.raises(BindingError, match="row 0 has norm 0"):
        resolve_bindings(PREP, {"v": np.zeros(4), "a": 0.0})
    almost = np.array([1.0 + 1e-8, 0, 0, 0])
    assert resolve_bindings(PREP, {"v": almost, "a": 0.0}).size == 1


def test_state_input_non_finite_and_non_numeric() -> None:
    with pytest.raises(BindingError, match="state input 'v' has non-finite"):
        resolve_bindings(PREP, {"v": [np.nan, 1, 0, 0], "a": 0.0})
    with pytest.raises(BindingError, match="state input 'v' must be numeric"):
        resolve_bindings(PREP, {"v": ["a", "b", "c", "d"], "a": 0.0})


def test_with_circuit_keeps_the_batch_and_adds_values() -> None:
    batch = resolve_bindings(CIRCUIT, {"a": [1.0, 2.0], "b": 0.0, "c": 0.0})
    other = Circuit(1).rx("d", 0)
    moved = batch.with_circuit(other, {"d": np.array([5.0, 6.0])})
    assert moved.size == 2 and moved.circuit is other
    np.testing.assert_array_equal(moved.values["a"], [1.0, 2.0])
    np.testing.assert_array_equal(moved.values["d"], [5.0, 6.0])
