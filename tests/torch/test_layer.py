"""QuantumLayer: agrees with the reference engine, differentiates correctly by every method, trains."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from qstore.core import Circuit, NumpyBackend
from qstore.core.ansatz import LayerCircuit, layer_circuit
from qstore.core.errors import BindingError, CapabilityError, CircuitError, GradientError
from qstore.torch import QuantumLayer


def _reference(layer: QuantumLayer, x: torch.Tensor) -> np.ndarray:
    spec = layer.layer_circuit
    bindings = spec.input_bindings(x.detach().double().numpy()) if spec.encoding != "custom" else {}
    if spec.encoding == "custom":
        bindings = {name: x[:, i].detach().double().numpy() for i, name in enumerate(spec.inputs)}
    weights = layer.theta.detach().double().numpy().reshape(-1)
    bindings.update({name: weights[i] for i, name in enumerate(spec.weights)})
    result = NumpyBackend().run(spec.circuit, bindings, spec.observables)
    return result.expectations


@pytest.mark.parametrize(
    ("encoding", "entanglement", "bases"),
    [("angle", "linear", "Z"), ("reuploading", "circular", "XYZ"), ("amplitude", "full", "XZ")],
)
@pytest.mark.parametrize("double", [False, True])
def test_outputs_equal_the_reference_engine(
    encoding: str, entanglement: str, bases: str, double: bool
) -> None:
    torch.manual_seed(0)
    layer = QuantumLayer(4, depth=3, entanglement=entanglement, encoding=encoding, bases=bases)
    x = torch.randn(7, layer.layer_circuit.n_features)
    if double:
        layer, x = layer.double(), x.double()
    out = layer(x)
    assert out.shape == (7, 4 * len(bases))
    assert out.dtype == (torch.float64 if double else torch.float32)
    np.testing.assert_allclose(out.detach().numpy(), _reference(layer, x), atol=1e-10 if double else 1e-5)


@pytest.mark.parametrize("diff_method", ["backprop", "adjoint", "parameter-shift", "finite-diff"])
@pytest.mark.parametrize("encoding", ["angle", "amplitude"])
def test_every_exact_diff_method_agrees_with_finite_differences(diff_method: str, encoding: str) -> None:
    torch.manual_seed(1)
    layer = QuantumLayer(3, depth=2, encoding=encoding, bases="XZ", diff_method=diff_method).double()
    x = torch.randn(2, layer.layer_circuit.n_features, dtype=torch.float64, requires_grad=encoding == "angle")
    inputs = (x, layer.theta) if encoding == "angle" else (layer.theta,)

    def f(*args: torch.Tensor) -> torch.Tensor:
        return layer(x) if encoding != "angle" else layer(args[0])

    tol = 1e-4 if diff_method == "finite-diff" else 1e-6
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=tol, rtol=1e-4)


def test_amplitude_inputs_get_gradients_from_backprop_and_adjoint_alike() -> None:
    torch.manual_seed(2)
    grads = []
    for method in ("backprop", "adjoint"):
        torch.manual_seed(2)
        layer = QuantumLayer(3, depth=2, encoding="amplitude", diff_method=method).double()
        x = torch.randn(
            4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True
        )
        layer(x).pow(2).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1])
    adjoint = QuantumLayer(3, depth=1, encoding="amplitude", diff_method="adjoint").double()
    assert torch.autograd.gradcheck(adjoint, (torch.randn(2, 8, dtype=torch.float64, requires_grad=True),))


def test_spsa_gradient_is_an_unbiased_estimate() -> None:
    torch.manual_seed(4)
    layer = QuantumLayer(2, depth=1, diff_method="spsa", seed=11).double()
    exact = QuantumLayer(2, depth=1, diff_method="backprop").double()
    exact.load_state_dict(layer.state_dict())
    x = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    exact(x).sum().backward()
    samples = []
    for _ in range(300):
        layer.zero_grad()
        layer(x).sum().backward()
        samples.append(layer.theta.grad.clone())
    stacked = torch.stack(samples)
    err = stacked.std(dim=0) / np.sqrt(len(samples))
    assert torch.all((stacked.mean(dim=0) - exact.theta.grad).abs() <= 5 * err + 1e-9)


def test_shots_give_estimates_within_statistical_bounds_and_unbiased_shift_gradients() -> None:
    torch.manual_seed(5)
    exact = QuantumLayer(2, depth=1).double()
    noisy = QuantumLayer(2, depth=1, shots=2000, seed=3).double()
    noisy.load_state_dict(exact.state_dict())
    assert noisy.diff_method == "parameter-shift"
    x = torch.rand(64, 2, dtype=torch.float64)
    want, got = exact(x), noisy(x)
    assert torch.all((got - want).abs() <= 5 * torch.sqrt((1 - want**2) / 2000) + 1e-9)
    exact(x).sum().backward()
    noisy(x).sum().backward()
    torch.testing.assert_close(noisy.theta.grad, exact.theta.grad, atol=0.5, rtol=0.1)


def test_other_backends_run_through_their_own_gradients() -> None:
    torch.manual_seed(6)
    local = QuantumLayer(3, depth=2).double()
    remote = QuantumLayer(3, depth=2, backend="numpy").double()
    remote.load_state_dict(local.state_dict())
    assert remote.diff_method == "adjoint" and remote.backend is not None
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    local(x).square().sum().backward()
    gx, gw = x.grad.clone(), local.theta.grad.clone()
    x.grad = None
    remote(x).square().sum().backward()
    torch.testing.assert_close(x.grad, gx)
    torch.testing.assert_close(remote.theta.grad, gw)


def test_layer_trains_on_a_small_task() -> None:
    torch.manual_seed(7)
    x = torch.rand(64, 2) * np.pi
    y = (torch.cos(x[:, :1]) * torch.cos(x[:, 1:])).squeeze(1)
    model = nn.Sequential(QuantumLayer(2, depth=2, bases="Z"), nn.Linear(2, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x).squeeze(1), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_user_built_circuit_with_named_inputs_and_weights() -> None:
    circuit = Circuit(2).rx("u", 0).ry("v", 1).crx("w0", 0, 1).rzz("2*w1 + 0.1", 0, 1).ry("u", 1)
    spec = LayerCircuit.from_circuit(circuit, inputs=["u", "v"], observables=["Z0 Z1", "X1"])
    layer = QuantumLayer(circuit=spec).double()
    assert layer.theta.shape == (2,)
    x = torch.randn(6, 2, dtype=torch.float64)
    np.testing.assert_allclose(layer(x).detach().numpy(), _reference(layer, x), atol=1e-10)
    with pytest.raises(ValueError, match="not both"):
        QuantumLayer(2, circuit=spec)


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.zeros(4), BindingError, r"shape \(batch, 3\)"),
        (torch.zeros(2, 5), BindingError, "takes 3 features"),
        (torch.zeros(2, 2), BindingError, "pad=True"),
        (torch.zeros(2, 3, dtype=torch.int64), BindingError, "floating point"),
        (torch.zeros(2, 3, dtype=torch.float64), BindingError, r"\.double\(\)"),
        (np.zeros((2, 3)), BindingError, "torch.Tensor"),
    ],
)
def test_bad_inputs_are_clear_errors(x: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        QuantumLayer(3)(x)


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(GradientError, match="diff_method must be one of"):
        QuantumLayer(2, diff_method="magic")
    with pytest.raises(GradientError, match="backprop"):
        QuantumLayer(2, backend="numpy", diff_method="backprop")
    with pytest.raises(GradientError, match="shots"):
        QuantumLayer(2, shots=100, diff_method="adjoint")
    with pytest.raises(CircuitError, match="encoding"):
        QuantumLayer(2, encoding="basis")
    with pytest.raises(BindingError, match="all-zero"):
        QuantumLayer(2, encoding="amplitude")(torch.zeros(1, 4))


def test_padding_fewer_features_when_asked() -> None:
    layer = QuantumLayer(4, n_features=2, pad=True)
    assert layer(torch.rand(3, 2)).shape == (3, 4)


def test_state_dict_round_trip_device_and_precision() -> None:
    torch.manual_seed(8)
    layer = QuantumLayer(3, depth=2, bases="YZ")
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    clone = QuantumLayer(3, depth=2, bases="YZ")
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.rand(4, 3)
    torch.testing.assert_close(clone(x), layer(x))
    assert list(layer.state_dict()) == ["theta"]
    moved = layer.to("cpu").double()
    assert moved(x.double()).dtype == torch.float64


def test_weights_are_initialised_uniformly_in_zero_to_two_pi() -> None:
    w = QuantumLayer(6, depth=5).theta.detach()
    assert w.shape == layer_circuit(6, 5).weight_shape
    assert float(w.min()) >= 0 and float(w.max()) < 2 * np.pi and float(w.std()) > 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.slow
def test_torch_jit_script_fails_with_a_clear_message_and_compile_works() -> None:
    layer = QuantumLayer(2, depth=1)
    with pytest.raises(CapabilityError, match=r"torch\.compile"):
        torch.jit.script(layer)
    compiled = torch.compile(layer, backend="eager")
    x = torch.rand(3, 2)
    torch.testing.assert_close(compiled(x), layer(x))


def test_draw_and_specs_describe_the_layer_circuit() -> None:
    layer = QuantumLayer(3, depth=1, bases="XZ")
    text = layer.draw(width=60)
    assert all(len(line) <= 60 for line in text.splitlines())
    assert "⟨X0⟩" in text or "X0" in text
    specs = layer.specs()
    assert specs.n_qubits == 3 and specs.gate_counts["cnot"] == 2 and specs.gate_counts["ry"] == 6


@pytest.mark.slow
def test_a_batch_too_big_for_memory_runs_in_chunks_with_identical_results() -> None:
    child = textwrap.dedent(
        """
        import resource
        import torch
        from qstore.core.memory import available_memory
        from qstore.torch import QuantumLayer

        torch.manual_seed(0)
        layer = QuantumLayer(10, depth=2, bases="XZ", diff_method="backprop").double()
        x = torch.rand(1024, 10, dtype=torch.float64, requires_grad=True)

        def run():
            layer.theta.grad, x.grad = None, None
            out = layer(x)
            (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)).sum().backward()
            return out.detach().clone(), x.grad.clone(), layer.theta.grad.clone()

        want = run()
        with open("/proc/self/status") as f:
            used = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + 400 * 2**20, resource.RLIM_INFINITY))
        per_row = layer._bytes_per_row("backprop", torch.complex128)
        assert per_row * 1024 > 0.5 * available_memory(), "the limit must force chunking"
        got = run()
        # equal up to float64 rounding: the weight gradient sums 1024 rows in another order
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
        print("chunked ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "chunked ok" in result.stdout
