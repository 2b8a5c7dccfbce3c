"""The router: reasons for every rejection and loss, priorities, budgets, the plugin hook, auto."""

from __future__ import annotations

import json
from functools import cached_property

import attrs
import numpy as np
import pytest

from qstore.core import builtin_plugin
from qstore.core.adapter import make_backend
from qstore.core.backend import Capabilities, Request, Result
from qstore.core.circuit import Circuit
from qstore.core.errors import BudgetExceededError, CapabilityError
from qstore.core.hookspecs import hookimpl
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.plugins import isolated_registry
from qstore.core.routing import AutoBackend, installed_backends, route
from qstore.core.routing_policy import CostLedger, Policy
from qstore.core.routing_speed import Profile, SpeedModel
from qstore.core.routing_workload import Workload


@attrs.frozen
class PerCircuit:
    """A cost model charging a fixed USD per circuit (a real `CostModel`, priced before running)."""

    usd: float

    def estimate(self, circuit: Circuit, batch_size: int, shots: int | None) -> float:
        return self.usd * batch_size


class Variant(NumpyBackend):
    """The NumPy engine under another name and declared capabilities; counts what it executes."""

    def __init__(self, name: str, **changes: object) -> None:
        super().__init__(str(changes.pop("engine_precision", "double")))
        self._name, self._changes, self.executed = name, changes, 0

    @cached_property
    def capabilities(self) -> Capabilities:
        return attrs.evolve(super().capabilities, name=self._name, **self._changes)

    def execute(self, request: Request) -> Result:
        self.executed += 1
        return super().execute(request)


def profile(**per_amp_gate: float) -> Profile:
    """A profile whose backends differ only in their per-amplitude-gate cost."""
    models = {name: {"forward": SpeedModel(1e-3, 0, 0, 0, c), "adjoint": SpeedModel(1e-3, 0, 0, 0, 2 * c)}
              for name, c in per_amp_gate.items()}  # fmt: skip
    return Profile("test", models)


def workload(**kwargs: object) -> Workload:
    return Workload.from_layer(4, 1, **kwargs)


def reasons(decision) -> dict[str, str]:
    return {c.backend: c.reason for c in decision.candidates}


def test_workload_from_circuit_counts_gates_sites_and_calls() -> None:
    c = Circuit(3).ry("a", 0).rz("2*a + b", 1).cnot(0, 1).cz(1, 2).h(2)
    w = Workload.from_circuit(
        c, {"a": [0.1, 0.2], "b": 0.3}, gradient="auto", wrt=["a"], samples=10, epochs=3
    )
    assert (w.n_qubits, w.gates_1q, w.gates_2q, w.depth, w.batch) == (3, 3, 2, c.depth, 2)
    assert w.shift_sites == 2  # both angles depend on a
    assert w.calls == 5 * 3  # ceil(10 / 2) batches per epoch
    assert w.gates == {"ry", "rz", "cnot", "cz", "h"}
    with pytest.raises(CapabilityError, match="gradient must be"):
        Workload(2, 1, 1, 0, gradient="backwards")


def test_speed_priority_picks_the_fastest_measured_and_says_by_how_much() -> None:
    fast, slow = Variant("fast"), Variant("slow")
    d = route(workload(batch=8), backends=[slow, fast], profile=profile(fast=1e-9, slow=3.1e-9))
    assert d.backend == "fast" and d.calibrated
    ratio = d.alternatives[0].seconds / d.seconds
    assert 1.0 < ratio < 3.1  # the per-call overhead is shared, so the ratio is below the slope ratio
    assert reasons(d)["slow"] == f"slower by {ratio:.3g}x"


def test_without_a_profile_defaults_apply_and_the_decision_says_so() -> None:
    d = route(workload(), backends=[Variant("a")], profile=None)
    assert not d.calibrated and "analytic defaults" in str(d)


def test_decisions_are_deterministic_given_a_profile() -> None:
    backends = [Variant("a"), Variant("b"), Variant("c")]
    p = profile(a=2e-9, b=1e-9, c=1e-9)
    first = route(workload(batch=4, gradient="auto"), backends=backends, profile=p)
    assert all(
        route(workload(batch=4, gradient="auto"), backends=backends, profile=p) == first for _ in range(3)
    )
    assert first.backend == "b" and reasons(first)["c"] == "tied; b comes first by name"


def test_a_decision_survives_the_profile_s_round_trip_through_json() -> None:
    backends = [Variant("a"), Variant("b")]
    p = profile(a=2e-9, b=1e-9)
    again = Profile.from_dict(json.loads(json.dumps(p.to_dict())))
    work = workload(batch=16, gradient="adjoint")
    assert route(work, backends=backends, profile=again) == route(work, backends=backends, profile=p)


def shaped_profile() -> Profile:
    """Models shaped like the engines': ``batched`` pays per gate once per call and little per
    amplitude; ``looped`` builds each circuit (per row and gate) but has the fastest kernels."""
    return Profile("shapes", {
        "batched": {"forward": SpeedModel(1e-3, 3e-5, 0, 0, 2e-9), "adjoint": SpeedModel(2e-3, 6e-5, 0, 0, 5e-9)},
        "looped": {"forward": SpeedModel(1e-3, 0, 1e-4, 2e-5, 4e-10), "adjoint": SpeedModel(2e-3, 0, 2e-4, 6e-5, 1e-9)},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("work", "chosen"),
    [
        (Workload.from_layer(8, 2, batch=256, gradient="auto"), "batched"),
        (Workload.from_layer(20, 2), "looped"),
        (Workload.from_layer(24, 2), "looped"),
    ],
)
def test_each_term_of_the_speed_models_steers_the_reference_workloads(work, chosen) -> None:
    """Per-row costs lose a big batch of small circuits; per-amplitude costs lose a big register."""
    d = route(work, Policy(memory_bytes=2**40), backends=[Variant("batched"), Variant("looped")],
              profile=shaped_profile())  # fmt: skip
    assert d.backend == chosen and d.calibrated
    (loser,) = d.alternatives
    assert loser.reason == f"slower by {loser.seconds / d.seconds:.3g}x" and loser.seconds > 2 * d.seconds


def test_cost_and_balanced_priorities_trade_seconds_for_dollars() -> None:
    cheap = Variant("cheap")
    paid = Variant("paid", cost_model=PerCircuit(0.5))
    p = profile(cheap=1e-8, paid=1e-9)
    by_speed = route(workload(batch=2), Policy(priority="speed"), backends=[cheap, paid], profile=p)
    by_cost = route(workload(batch=2), Policy(priority="cost"), backends=[cheap, paid], profile=p)
    assert by_speed.backend == "paid" and by_speed.usd == pytest.approx(1.0)
    assert by_cost.backend == "cheap" and reasons(by_cost)["paid"] == "costs $1.00 more"
    balanced = route(workload(batch=2), Policy(priority="balanced"), backends=[cheap, paid], profile=p)
    assert balanced.backend == "cheap"  # seconds differ by < 2x here, dollars by 100x


def test_accuracy_priority_prefers_double_precision() -> None:
    single = Variant("single", engine_precision="single", precision="single")
    double = Variant("double")
    d = route(
        workload(),
        Policy(priority="accuracy"),
        backends=[single, double],
        profile=profile(single=1e-10, double=1e-8),
    )
    assert d.backend == "double"
    assert reasons(d)["single"].startswith("single precision")


@pytest.mark.parametrize(
    ("candidate", "work", "policy", "reason"),
    [
        (Variant("x"), workload(), Policy(allowed={"numpy"}), "not in Policy.allowed ['numpy']"),
        (Variant("x"), workload(), Policy(forbidden={"x"}), "forbidden by Policy.forbidden"),
        (Variant("x", devices=("qpu",)), workload(shots=10), Policy(latency="batch"), "explicit opt-in"),
        (Variant("x", devices=("cloud",)), workload(shots=10), Policy(), "too slow for latency='interactive'"),
        (Variant("x", max_qubits=3), workload(), Policy(), "needs 4 qubits, runs at most 3"),
        (Variant("x", gates={"h"}), workload(), Policy(), "lacks gate(s) ['cnot', 'ry', 'rz']"),
        (Variant("x", exact_expectations=False), workload(), Policy(), "only samples"),
        (Variant("x", shots=False), workload(shots=100), Policy(), "does not sample; shots=100"),
        (Variant("x", statevector=False), workload(outputs={"state"}), Policy(), "cannot return states"),
        (Variant("x", noise=()), attrs.evolve(workload(), noisy=True), Policy(), "cannot simulate noise"),
        (Variant("x", engine_precision="single", precision="single"), workload(), Policy(precision="double"),
         "runs in single precision; double is required"),
        (Variant("x", gradient_methods=("parameter-shift",)), workload(gradient="adjoint"), Policy(),
         "lacks gradient method 'adjoint' with shots=None; it has ['parameter-shift']"),
        (Variant("x", cost_model=PerCircuit(2.0)), workload(batch=3), Policy(budget_usd=5),
         "over budget: estimated $6.00, $5.00 remains"),
    ],
)  # fmt: skip
def test_every_rejection_names_its_reason(candidate, work, policy, reason) -> None:
    d = route(work, policy, backends=[candidate, NumpyBackend()], profile=None)
    assert d.backend == "numpy"
    (rejected,) = d.rejected
    assert rejected.backend == "x" and reason in rejected.reason
    assert f"rejected: {rejected.reason}" in str(d)


def test_a_noisy_circuit_needs_a_noise_backend_and_density_memory_counts_4_to_the_n() -> None:
    w = Workload.from_circuit(Circuit(6).h(0).amplitude_damping(0.1, 0))
    assert w.noisy and not Workload.from_circuit(Circuit(6).h(0)).noisy
    density = 4 * 16 * 4**6  # working copies x complex128 x entries of rho
    assert route(w, Policy(memory_bytes=density), backends=[Variant("x")], profile=None).backend == "x"
    with pytest.raises(CapabilityError) as info:
        route(
            w, Policy(memory_bytes=density - 1), backends=[Variant("x"), Variant("y", noise=())], profile=None
        )
    assert "x: does not fit in memory" in str(info.value) and "y: cannot simulate noise" in str(info.value)


def test_a_workload_too_big_for_memory_is_rejected_by_its_precision() -> None:
    need_double = 4 * 64 * 16 * 2**12  # working copies x batch x complex128 x amplitudes
    policy = Policy(memory_bytes=need_double - 1)
    d = route(
        Workload.from_layer(12, 1, batch=64),
        policy,
        backends=[Variant("x"), NumpyBackend("single")],
        profile=None,
    )
    assert d.backend == "numpy"
    assert reasons(d)["x"] == "does not fit in memory: needs 0.0156 GiB, 0.0156 GiB available"


def test_a_backend_that_could_not_be_built_is_listed_with_why() -> None:
    d = route(
        workload(),
        backends={"numpy": NumpyBackend(), "ionq.qpu.aria-1": "cannot be built: no API key"},
        profile=None,
    )
    assert reasons(d)["ionq.qpu.aria-1"] == "cannot be built: no API key"


class Broken:
    """A plugin made here registering a backend whose factory fails (a missing API key, say)."""

    @hookimpl
    def register_backends(self, register) -> None:
        def factory() -> NumpyBackend:
            raise CapabilityError("no API key\nset BROKEN_KEY")

        register("broken", factory)


def test_installed_backends_gives_the_reason_a_backend_cannot_be_built() -> None:
    with isolated_registry(builtin_plugin, Broken()):
        pool = installed_backends(Policy())
        assert pool["broken"] == "cannot be built: CapabilityError: no API key"
        d = route(workload(), profile=None)
    assert d.backend == "numpy" and reasons(d)["broken"] == "cannot be built: CapabilityError: no API key"


def test_no_usable_backend_raises_with_the_reasons() -> None:
    with pytest.raises(CapabilityError, match="under the policy: no backends installed"):
        route(workload(), backends=[], profile=None)
    with pytest.raises(CapabilityError, match="x: needs 4 qubits, runs at most 3"):
        route(workload(), backends=[Variant("x", max_qubits=3)], profile=None)
    with pytest.raises(BudgetExceededError, match=r"over budget: estimated \$2.00, \$1.00 remains"):
        route(
            workload(),
            Policy(budget_usd=1),
            backends=[Variant("x", cost_model=PerCircuit(2.0))],
            profile=None,
        )


def test_ledger_spend_counts_against_the_budget_when_routing() -> None:
    ledger = CostLedger(budget_usd=3.0)
    ledger.reserve("x", 2.5)
    d = route(workload(), Policy(budget_usd=3.0), backends=[Variant("x", cost_model=PerCircuit(1.0)), NumpyBackend()],
              profile=None, ledger=ledger)  # fmt: skip
    assert "over budget: estimated $1.00, $0.50 remains" in reasons(d)["x"]


def test_decision_renders_as_a_table_and_as_json() -> None:
    d = route(
        workload(batch=2, samples=10, epochs=2),
        backends=[Variant("a"), Variant("b")],
        profile=profile(a=1e-9, b=2e-9),
    )
    lines = str(d).splitlines()
    assert lines[1].split() == ["backend", "seconds", "usd", "method", "verdict"]
    assert lines[3].startswith("a ") and lines[3].endswith("chosen")
    data = json.loads(json.dumps(d.to_dict()))
    assert data["backend"] == "a" and data["workload"]["samples"] == 10 and d.workload.calls == 10
    assert [c["backend"] for c in data["candidates"]] == ["a", "b"]


class Chooser:
    """A plugin made here: always prefers the backend named ``slow``."""

    def __init__(self, pick: str) -> None:
        self.pick = pick

    @hookimpl
    def qstore_choose_backend(self, workload, policy, decision):
        return self.pick


def test_a_plugin_can_override_the_choice_through_the_firstresult_hook() -> None:
    backends = [Variant("fast"), Variant("slow")]
    with isolated_registry(builtin_plugin, Chooser("slow")):
        d = route(workload(), backends=backends, profile=profile(fast=1e-9, slow=1e-8))
        assert (d.backend, d.chosen_by) == ("slow", "plugin")
        assert reasons(d)["fast"] == "a plugin chose slow"
    with (
        isolated_registry(builtin_plugin, Chooser("nowhere")),
        pytest.raises(CapabilityError, match="'nowhere'"),
    ):
        route(workload(), backends=backends, profile=None)


def test_auto_backend_routes_once_per_structure_and_matches_the_reference() -> None:
    fast, slow = Variant("fast"), Variant("slow")
    auto = AutoBackend(backends=[fast, slow], profile=profile(fast=1e-9, slow=1e-8))
    c = Circuit(2).ry("t", 0).cnot(0, 1)
    for _ in range(3):
        result = auto.run(c, {"t": [0.1, 0.7]}, ["Z1", "X0"])
    ref = NumpyBackend().run(c, {"t": [0.1, 0.7]}, ["Z1", "X0"])
    np.testing.assert_allclose(result.expectations, ref.expectations, atol=1e-12)
    assert (fast.executed, slow.executed, len(auto.decisions)) == (3, 0, 1)
    assert result.info["routed_to"] == "fast"
    grads = auto.gradient(c, {"t": [0.1, 0.7]}, "Z1", method="adjoint")
    expected = NumpyBackend().gradient(c, {"t": [0.1, 0.7]}, "Z1", method="adjoint")
    np.testing.assert_allclose(grads["t"], expected["t"], atol=1e-12)


def test_auto_with_no_buildable_backend_says_what_to_run() -> None:
    with pytest.raises(CapabilityError, match="found no backend it can build; run `qstore backends`"):
        AutoBackend(backends={"numpy": "cannot be built: broken"}, profile=None)


def test_make_backend_auto_builds_the_router() -> None:
    auto = make_backend("auto", {"backends": [NumpyBackend()], "profile": None})
    assert isinstance(auto, AutoBackend) and auto.capabilities.name == "auto"


def test_a_budget_smaller_than_one_call_never_executes() -> None:
    paid = Variant("paid", cost_model=PerCircuit(1.0))
    auto = AutoBackend(Policy(budget_usd=0.5), backends=[paid], profile=None)
    with pytest.raises(BudgetExceededError, match="over budget"):
        auto.run(Circuit(1).rx("t", 0), {"t": [0.1]}, "Z0")
    assert paid.executed == 0


def test_a_budget_crossed_mid_run_stops_with_spend_within_budget() -> None:
    paid = Variant("paid", cost_model=PerCircuit(1.0))
    auto = AutoBackend(Policy(budget_usd=2.5), backends=[paid], profile=None)
    c = Circuit(1).rx("t", 0)
    auto.run(c, {"t": [0.1]}, "Z0")
    auto.run(c, {"t": [0.2]}, "Z0")
    with pytest.raises(BudgetExceededError, match=r"\$2.0000 spent of \$2.50"):
        auto.run(c, {"t": [0.3]}, "Z0")
    assert paid.executed == 2 and auto.ledger.spent_usd == 2.0 <= 2.5


def test_fallback_sends_an_over_budget_call_to_the_next_candidate() -> None:
    paid, free = Variant("paid", cost_model=PerCircuit(1.0)), Variant("free")
    auto = AutoBackend(
        Policy(budget_usd=1.5, fallback=True), backends=[paid, free], profile=profile(paid=1e-10, free=1e-6)
    )
    c = Circuit(1).rx("t", 0)
    assert auto.run(c, {"t": [0.1]}, "Z0").info["routed_to"] == "paid"
    assert auto.run(c, {"t": [0.2]}, "Z0").info["routed_to"] == "free"
    assert auto.ledger.spent_usd == 1.0
