"""The gate table against independent truth: unitarity, finite differences, closed forms, flags."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from qstore.core import Circuit, CircuitError, Operation, gate_spec
from qstore.core.expressions import Expr
from qstore.core.gates import GATES, ShiftRule
from qstore.core.testing import dense_unitary

PARAMETRIC = sorted(name for name, spec in GATES.items() if spec.n_params)
FIXED = sorted(name for name, spec in GATES.items() if not spec.n_params)
PAULI = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]]),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0, -1.0]),
}


def random_angles(name: str, rng: np.random.Generator, size: tuple[int, ...] = ()) -> list[np.ndarray]:
    return [rng.uniform(-2 * np.pi, 2 * np.pi, size=size) for _ in range(GATES[name].n_params)]


def equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-10) -> bool:
    """True when ``a = e^{iφ} b`` for one global phase φ."""
    index = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    if abs(a[index]) < 1e-12:
        return False
    phase = a[index] / b[index]
    return abs(abs(phase) - 1) < atol and np.allclose(a, phase * b, atol=atol)


def pauli_string(labels: str) -> np.ndarray:
    out = np.eye(1)
    for p in labels:
        out = np.kron(out, PAULI[p])
    return out


# -- matrices ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_matrix_is_unitary_of_the_declared_size(name: str) -> None:
    rng = np.random.default_rng(1)
    spec = GATES[name]
    d = 2**spec.n_qubits
    for _ in range(5):
        u = spec.matrix(*random_angles(name, rng))
        assert u.shape == (d, d)
        np.testing.assert_allclose(u @ u.conj().T, np.eye(d), atol=1e-12)


@pytest.mark.parametrize("name", PARAMETRIC)
@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_batched_angles_give_a_stack_of_the_scalar_matrices(name: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(2)
    spec = GATES[name]
    d = 2**spec.n_qubits
    angles = random_angles(name, rng, shape)
    stack = spec.matrix(*angles)
    assert stack.shape == (*shape, d, d)
    for index in np.ndindex(*shape):
        np.testing.assert_allclose(stack[index], spec.matrix(*(float(a[index]) for a in angles)), atol=1e-14)


def test_scalar_and_array_angles_broadcast_together() -> None:
    ms = GATES["ms"].matrix(0.1, np.array([0.0, 0.2, 0.3]), 0.25)
    assert ms.shape == (3, 4, 4)
    np.testing.assert_allclose(ms[1], GATES["ms"].matrix(0.1, 0.2, 0.25))


def test_wrong_number_of_angles_is_an_error() -> None:
    with pytest.raises(CircuitError, match="takes 1 angle"):
        GATES["rx"].matrix()
    with pytest.raises(CircuitError, match="takes 3 angle"):
        GATES["u3"].matrix(0.1, 0.2)


# -- derivatives -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PARAMETRIC)
def test_matrix_derivative_equals_central_finite_differences(name: str) -> None:
    rng = np.random.default_rng(3)
    spec = GATES[name]
    h = 1e-6
    for _ in range(4):
        angles = [float(a) for a in random_angles(name, rng)]
        for index in range(spec.n_params):
            plus, minus = list(angles), list(angles)
            plus[index] += h
            minus[index] -= h
            fd = (spec.matrix(*plus) - spec.matrix(*minus)) / (2 * h)
            np.testing.assert_allclose(spec.matrix_derivative(angles, index), fd, atol=1e-7)


@pytest.mark.parametrize("name", PARAMETRIC)
def test_matrix_derivative_is_batched(name: str) -> None:
    rng = np.random.default_rng(4)
    spec = GATES[name]
    angles = random_angles(name, rng, (5,))
    for index in range(spec.n_params):
        batched = spec.matrix_derivative(angles, index)
        for b in range(5):
            single = spec.matrix_derivative([float(a[b]) for a in angles], index)
            np.testing.assert_allclose(batched[b], single, atol=1e-14)


def _random_expectation(name: str, rng: np.random.Generator, angles: list[float], index: int):
    """``f(θ) = <ψ|U(θ)† O U(θ)|ψ>`` for a random state and Hermitian O on the gate's qubits."""
    spec = GATES[name]
    d = 2**spec.n_qubits
    psi = rng.normal(size=d) + 1j * rng.normal(size=d)
    psi /= np.linalg.norm(psi)
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    obs = a + a.conj().T

    def f(theta: float) -> float:
        args = list(angles)
        args[index] = theta
        phi = spec.matrix(*args) @ psi
        return float(np.real(phi.conj() @ obs @ phi))

    return f


@pytest.mark.parametrize("name", PARAMETRIC)
def test_shift_rule_reproduces_the_derivative_of_random_expectations(name: str) -> None:
    rng = np.random.default_rng(5)
    spec = GATES[name]
    h = 1e-5
    for _ in range(4):
        angles = [float(a) for a in random_angles(name, rng)]
        for index, rule in enumerate(spec.params):
            f = _random_expectation(name, rng, angles, index)
            theta = angles[index]
            shift = rule.shift_rule
            exact = sum(c * f(theta + s) for s, c in zip(shift.shifts, shift.coeffs, strict=True))
            fd = (f(theta + h) - f(theta - h)) / (2 * h)
            assert exact == pytest.approx(fd, abs=1e-7)


def test_controlled_rotations_use_the_four_term_rule() -> None:
    for name in ("crx", "cry", "crz"):
        assert len(GATES[name].params[0].shift_rule.shifts) == 4
    for name in ("rx", "ry", "rz", "rxx", "ryy", "rzz", "phase", "zz"):
        assert len(GATES[name].params[0].shift_rule.shifts) == 2
    for name in ("gpi", "gpi2"):
        assert len(GATES[name].params[0].shift_rule.shifts) == 4


def test_two_term_shift_rule_is_the_textbook_one() -> None:
    rule = ShiftRule.for_spectrum(1.0, 1)
    np.testing.assert_allclose(sorted(rule.shifts), [-np.pi / 2, np.pi / 2])
    np.testing.assert_allclose(sorted(rule.coeffs), [-0.5, 0.5])


@pytest.mark.parametrize("r", [1, 2, 3])
def test_shift_rule_differentiates_trigonometric_polynomials_exactly(r: int) -> None:
    rng = np.random.default_rng(r)
    omega = 0.7
    a, b = rng.normal(size=r), rng.normal(size=r)
    k = np.arange(1, r + 1)

    def f(x: float) -> float:
        return float(3 + a @ np.cos(k * omega * x) + b @ np.sin(k * omega * x))

    def df(x: float) -> float:
        return float(omega * (-a * k) @ np.sin(k * omega * x) + omega * (b * k) @ np.cos(k * omega * x))

    rule = ShiftRule.for_spectrum(omega, r)
    assert len(rule.shifts) == 2 * r
    for x in rng.uniform(-5, 5, size=5):
        got = sum(c * f(x + s) for s, c in zip(rule.shifts, rule.coeffs, strict=True))
        assert got == pytest.approx(df(x), abs=1e-12)


# -- inverses --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GATES))
def test_inverse_of_every_gate_undoes_it_with_numeric_angles(name: str) -> None:
    rng = np.random.default_rng(6)
    spec = GATES[name]
    d = 2**spec.n_qubits
    for _ in range(3):
        angles = tuple(float(a) for a in random_angles(name, rng))
        inv_name, inv_angles = spec.inverse(angles)
        product = GATES[inv_name].matrix(*inv_angles) @ spec.matrix(*angles)
        assert equal_up_to_phase(product, np.eye(d)), name


@pytest.mark.parametrize("name", sorted(GATES))
def test_inverse_of_every_gate_undoes_it_with_symbolic_angles(name: str) -> None:
    rng = np.random.default_rng(7)
    spec = GATES[name]
    params = [Expr({f"s{i}": rng.uniform(-2, 2)}, rng.uniform(-1, 1)) for i in range(spec.n_params)]
    op = Operation(name, tuple(range(spec.n_qubits)), params)
    circuit = Circuit(spec.n_qubits, (op,))
    undone = circuit + circuit.inverse()
    values = {f"s{i}": rng.uniform(-np.pi, np.pi) for i in range(spec.n_params)}
    assert equal_up_to_phase(dense_unitary(undone, values), np.eye(2**spec.n_qubits))


# -- closed forms ----------------------------------------------------------------------------------


def rz(t: float) -> np.ndarray:
    return GATES["rz"].matrix(t)


def test_rotation_closed_forms() -> None:
    np.testing.assert_allclose(GATES["rx"].matrix(np.pi), -1j * PAULI["X"], atol=1e-15)
    np.testing.assert_allclose(GATES["ry"].matrix(np.pi), -1j * PAULI["Y"], atol=1e-15)
    np.testing.assert_allclose(GATES["rz"].matrix(np.pi), -1j * PAULI["Z"], atol=1e-15)
    np.testing.assert_allclose(GATES["phase"].matrix(np.pi / 2), GATES["s"].matrix(), atol=1e-15)
    np.testing.assert_allclose(GATES["phase"].matrix(np.pi / 4), GATES["t"].matrix(), atol=1e-15)
    np.testing.assert_allclose(GATES["sx"].matrix() @ GATES["sx"].matrix(), PAULI["X"], atol=1e-15)
    np.testing.assert_allclose(GATES["s"].matrix() @ GATES["s"].matrix(), PAULI["Z"], atol=1e-15)
    np.testing.assert_allclose(GATES["t"].matrix() @ GATES["t"].matrix(), GATES["s"].matrix(), atol=1e-15)
    h = GATES["h"].matrix()
    np.testing.assert_allclose(h @ PAULI["X"] @ h, PAULI["Z"], atol=1e-15)


@pytest.mark.parametrize("theta", [-1.3, 0.0, 0.4, 2.9])
def test_two_qubit_rotations_are_exponentials_of_pauli_products(theta: float) -> None:
    for name, p in (("rxx", "XX"), ("ryy", "YY"), ("rzz", "ZZ")):
        want = math.cos(theta / 2) * np.eye(4) - 1j * math.sin(theta / 2) * pauli_string(p)
        np.testing.assert_allclose(GATES[name].matrix(theta), want, atol=1e-14)
    for name, base in (("crx", "rx"), ("cry", "ry"), ("crz", "rz")):
        want = np.block([[np.eye(2), np.zeros((2, 2))], [np.zeros((2, 2)), GATES[base].matrix(theta)]])
        np.testing.assert_allclose(GATES[name].matrix(theta), want, atol=1e-15)


def test_u3_closed_forms() -> None:
    rng = np.random.default_rng(8)
    theta, phi, lam = rng.uniform(-3, 3, size=3)
    # U(θ, φ, λ) = e^{i(φ+λ)/2} RZ(φ) RY(θ) RZ(λ)
    want = np.exp(0.5j * (phi + lam)) * rz(phi) @ GATES["ry"].matrix(theta) @ rz(lam)
    np.testing.assert_allclose(GATES["u3"].matrix(theta, phi, lam), want, atol=1e-14)
    np.testing.assert_allclose(GATES["u3"].matrix(np.pi / 2, 0, np.pi), GATES["h"].matrix(), atol=1e-15)


def test_controlled_and_permutation_gates() -> None:
    cnot = np.eye(4)[[0, 1, 3, 2]]
    np.testing.assert_allclose(GATES["cnot"].matrix(), cnot)
    np.testing.assert_allclose(GATES["cz"].matrix(), np.diag([1, 1, 1, -1]))
    np.testing.assert_allclose(GATES["swap"].matrix(), np.eye(4)[[0, 2, 1, 3]])
    np.testing.assert_allclose(GATES["ccx"].matrix(), np.eye(8)[[0, 1, 2, 3, 4, 5, 7, 6]])
    cy = np.eye(4, dtype=complex)
    cy[2:, 2:] = PAULI["Y"]
    np.testing.assert_allclose(GATES["cy"].matrix(), cy)
    # iSWAP = exp(iπ/4 (XX + YY))
    xx_yy = pauli_string("XX") + pauli_string("YY")
    w, v = np.linalg.eigh(xx_yy)
    np.testing.assert_allclose(
        GATES["iswap"].matrix(), v @ np.diag(np.exp(0.25j * np.pi * w)) @ v.conj().T, atol=1e-14
    )


def test_ionq_native_closed_forms() -> None:
    np.testing.assert_allclose(GATES["gpi"].matrix(0), PAULI["X"], atol=1e-15)
    np.testing.assert_allclose(GATES["gpi"].matrix(0.25), PAULI["Y"], atol=1e-15)
    np.testing.assert_allclose(GATES["gpi2"].matrix(0.25), GATES["ry"].matrix(np.pi / 2), atol=1e-15)
    assert equal_up_to_phase(GATES["gpi2"].matrix(0), GATES["rx"].matrix(np.pi / 2))
    assert equal_up_to_phase(GATES["gpi2"].matrix(0.5), GATES["rx"].matrix(-np.pi / 2))
    xx = pauli_string("XX")
    want = math.cos(np.pi / 4) * np.eye(4) - 1j * math.sin(np.pi / 4) * xx  # exp(-iπ/4 X⊗X)
    np.testing.assert_allclose(GATES["ms"].matrix(0, 0, 0.25), want, atol=1e-15)
    for theta in (-0.3, 0.125, 0.25, 0.7):
        np.testing.assert_allclose(
            GATES["zz"].matrix(theta), GATES["rzz"].matrix(2 * np.pi * theta), atol=1e-14
        )
        np.testing.assert_allclose(
            GATES["zz"].matrix(theta),
            np.diag(np.exp(-1j * np.pi * theta * np.diag(pauli_string("ZZ")))),
            atol=1e-14,
        )


@pytest.mark.parametrize("phi", [-0.8, -0.1, 0.0, 0.3, 0.55])
def test_ionq_native_gates_are_frame_rotations_of_x(phi: float) -> None:
    """IonQ notes section 2: GPI, GPI2 and MS are Z-frame rotations of X, RX(π/2) and exp(-iπθXX)."""
    a = 2 * np.pi * phi
    assert equal_up_to_phase(GATES["gpi"].matrix(phi), rz(a) @ PAULI["X"] @ rz(-a))
    assert equal_up_to_phase(GATES["gpi2"].matrix(phi), rz(a) @ GATES["rx"].matrix(np.pi / 2) @ rz(-a))
    phi1, theta = 0.37 - phi, 0.2 + phi / 3
    b = 2 * np.pi * phi1
    xx = np.cos(np.pi * theta) * np.eye(4) - 1j * np.sin(np.pi * theta) * pauli_string("XX")
    want = np.kron(rz(a), rz(b)) @ xx @ np.kron(rz(-a), rz(-b))
    assert equal_up_to_phase(GATES["ms"].matrix(phi, phi1, theta), want)


@pytest.mark.parametrize("phi", [-0.4, 0.0, 0.21])
@pytest.mark.parametrize("angle", [-2.0, 0.3, 1.7])
def test_ionq_virtual_rz_commutation(phi: float, angle: float) -> None:
    """GPI2(φ)·RZ(a) = RZ(a)·GPI2(φ − a/2π), likewise for GPI (matrix order)."""
    turns = angle / (2 * np.pi)
    for gate in ("gpi", "gpi2"):
        left = GATES[gate].matrix(phi) @ rz(angle)
        right = rz(angle) @ GATES[gate].matrix(phi - turns)
        assert equal_up_to_phase(left, right), gate


def test_ionq_compilation_rules() -> None:
    """The decompositions of IonQ notes section 2, in time order, as circuits (up to global phase)."""
    rng = np.random.default_rng(9)
    t = float(rng.uniform(-3, 3))
    theta, phi, lam = (float(v) for v in rng.uniform(-3, 3, size=3))
    tau = 2 * np.pi
    cases = [
        (
            Circuit(1).rx(t, 0),
            Circuit(1).gate("gpi2", 0, params=[0.75]).gate("gpi2", 0, params=[0.25 - t / tau]).rz(t, 0),
        ),
        (
            Circuit(1).ry(t, 0),
            Circuit(1).gate("gpi2", 0, params=[0]).gate("gpi2", 0, params=[0.5 - t / tau]).rz(t, 0),
        ),
        (Circuit(1).h(0), Circuit(1).gate("gpi2", 0, params=[0.25]).gate("gpi", 0, params=[0])),
        (
            Circuit(1).u3(theta, phi, lam, 0),
            Circuit(1)
            .gate("gpi2", 0, params=[0.5 - lam / tau])
            .gate("gpi", 0, params=[(theta + phi - lam) / (2 * tau)])
            .gate("gpi2", 0, params=[0.5 + phi / tau]),
        ),
        (
            Circuit(2).cnot(0, 1),
            Circuit(2)
            .gate("gpi2", 0, params=[0.25])
            .gate("ms", 0, 1, params=[0, 0, 0.25])
            .gate("gpi2", 0, params=[0.5])
            .gate("gpi2", 1, params=[0.5])
            .gate("gpi2", 0, params=[-0.25]),
        ),
        (
            Circuit(2).cnot(0, 1),
            Circuit(2).h(1).gate("zz", 0, 1, params=[0.25]).sdg(0).sdg(1).h(1),
        ),
    ]
    for want, compiled in cases:
        assert equal_up_to_phase(dense_unitary(compiled), dense_unitary(want)), want.draw()


# -- flags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GATES))
def test_diagonal_flag_is_exact(name: str) -> None:
    rng = np.random.default_rng(10)
    u = GATES[name].matrix(*random_angles(name, rng))
    off_diagonal = u - np.diag(np.diag(u))
    assert GATES[name].diagonal == bool(np.allclose(off_diagonal, 0, atol=1e-14))


@pytest.mark.parametrize("name", sorted(GATES))
def test_self_inverse_flag_is_exact(name: str) -> None:
    spec = GATES[name]
    rng = np.random.default_rng(11)
    d = 2**spec.n_qubits
    for _ in range(3):
        angles = random_angles(name, rng)
        u = spec.matrix(*angles)
        if spec.self_inverse:
            np.testing.assert_allclose(u @ u, np.eye(d), atol=1e-14)
            assert spec.inverse(tuple(angles))[0] == name
    if not spec.self_inverse and not spec.n_params:
        u = spec.matrix()
        assert not equal_up_to_phase(u @ u, np.eye(d))


def _maps_paulis_to_paulis(u: np.ndarray, n_qubits: int) -> bool:
    strings = ["".join(p) for p in itertools.product("IXYZ", repeat=n_qubits)]
    mats = [pauli_string(s) for s in strings]
    d = 2**n_qubits
    for p in mats[1:]:
        image = u @ p @ u.conj().T
        overlaps = np.array([np.trace(q.conj().T @ image) / d for q in mats])
        big = np.abs(overlaps) > 1e-9
        if big.sum() != 1 or not np.isclose(abs(overlaps[big][0]), 1):
            return False
        if not np.isclose(overlaps[big][0].imag, 0, atol=1e-12):
            return False
    return True


@pytest.mark.parametrize("name", FIXED)
def test_clifford_flag_is_exact_for_fixed_gates(name: str) -> None:
    spec = GATES[name]
    assert spec.clifford == _maps_paulis_to_paulis(spec.matrix(), spec.n_qubits)


@pytest.mark.parametrize("name", FIXED)
def test_controlled_flag_matches_the_matrix(name: str) -> None:
    spec = GATES[name]
    u = spec.matrix()
    n_identity = 2**spec.n_qubits - 2 ** (spec.n_qubits - spec.n_controls)
    if spec.n_controls:
        np.testing.assert_allclose(u[:n_identity, :n_identity], np.eye(n_identity))
        assert np.allclose(u[:n_identity, n_identity:], 0) and np.allclose(u[n_identity:, :n_identity], 0)


def test_parametric_gates_are_not_flagged_clifford() -> None:
    assert not any(GATES[name].clifford for name in PARAMETRIC)


def test_issue_gate_list_is_covered() -> None:
    wanted = "i x y z h s sdg t tdg sx rx ry rz phase u3 cnot cy cz swap iswap crx cry crz rxx ryy rzz ccx"
    assert set(wanted.split()) | {"gpi", "gpi2", "ms", "zz"} <= set(GATES)


# -- lookup --------------------------------------------------------------------------------------


def test_unknown_gate_error_lists_the_known_names() -> None:
    with pytest.raises(CircuitError, match="unknown gate 'foo'") as info:
        gate_spec("foo")
    for name in ("cnot", "gpi2", "rx", "u3"):
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("cx", "cnot"), ("p", "phase"), ("toffoli", "ccx"), ("id", "i"), ("u", "u3"), ("CX", "cnot")],
)
def test_aliases_and_case_resolve_to_the_table_row(alias: str, name: str) -> None:
    assert gate_spec(alias) is GATES[name]
    assert gate_spec(name.upper()) is GATES[name]
    assert Operation(alias, tuple(range(GATES[name].n_qubits)), [0.0] * GATES[name].n_params).gate == name
