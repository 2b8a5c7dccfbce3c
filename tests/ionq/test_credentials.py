"""The IonQ API key: never in configs or saved models, only sent to the API origin, never chained."""

from __future__ import annotations

import json
import traceback
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fake_ionq import API_KEY, FakeIonQ

from qstore.backends.ionq import IonQAPIError, IonQOriginError
from qstore.core import Circuit
from qstore.core.errors import CredentialError, QstoreError
from qstore.core.plugins import isolated_registry

pytestmark = pytest.mark.timeout(60)

BELL = Circuit(2).h(0).cnot(0, 1)


def _assert_key_absent(exc: BaseException, key: str = API_KEY) -> None:
    """The key is in no message, argument or chained exception, nor in the formatted traceback."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        assert key not in str(current) and key not in repr(current.args)
        current = current.__cause__ or current.__context__
    assert all(isinstance(e, QstoreError) for e in seen[1:]), [type(e) for e in seen]
    assert key not in "".join(traceback.format_exception(exc))
    assert key.strip() not in "".join(traceback.format_exception(exc))


@pytest.mark.parametrize("bad", [API_KEY + "\n", API_KEY + "\r\n", " " + API_KEY, API_KEY + "\x00"])
def test_malformed_key_argument_is_refused_without_showing_it(make_backend, fake: FakeIonQ, bad: str) -> None:
    with pytest.raises(QstoreError) as info:
        make_backend(api_key=bad).run(BELL, shots=10)
    assert isinstance(info.value, CredentialError)
    assert "api_key=" in str(info.value)
    _assert_key_absent(info.value, bad)
    _assert_key_absent(info.value)
    assert fake.count("POST") == 0


def test_malformed_key_from_the_environment_names_the_variables(monkeypatch, fake: FakeIonQ) -> None:
    from qstore.backends.ionq.backend import IonQBackend

    monkeypatch.setenv("IONQ_API_KEY", API_KEY + "\n")
    with pytest.raises(CredentialError, match="a newline at position") as info:
        IonQBackend("simulator", url=fake.url)
    assert "IONQ_API_KEY" in str(info.value)
    _assert_key_absent(info.value)


def test_an_error_body_echoing_the_key_is_redacted_and_unchained(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", budget_usd=10.0)
    fake.inject("POST", "/jobs$", "echo")
    with pytest.raises(IonQAPIError, match="400") as info:
        backend.run(BELL, shots=20)
    assert "<redacted>" in str(info.value)
    _assert_key_absent(info.value)
    assert backend.ledger.remaining_usd == pytest.approx(10.0)


def test_absolute_results_url_on_the_api_origin_is_fetched_with_the_key(make_backend, fake: FakeIonQ) -> None:
    fake.results_origin = fake.url.removesuffix("/v0.4")
    assert make_backend().run(BELL, shots=30, seed=1).counts().keys() <= {"00", "11"}
    pairs = zip(fake.requests, fake.authorizations, strict=True)
    fetched = [auth for (_, path), auth in pairs if "/results/" in path]
    assert fetched == [f"apiKey {API_KEY}"]


@pytest.mark.parametrize("kind", ["other port", "other host", "other scheme"])
def test_results_url_on_a_foreign_origin_gets_no_key_and_is_refused(
    make_backend, fake: FakeIonQ, kind: str
) -> None:
    port = fake.url.split(":")[2].split("/")[0]
    with FakeIonQ(api_key="foreign") as foreign:
        fake.results_origin = {
            "other port": foreign.url.removesuffix("/v0.4"),
            "other host": f"http://localhost:{port}",
            "other scheme": f"https://127.0.0.1:{port}",
        }[kind]
        backend = make_backend("forte-1", marketplace="aws", budget_usd=10.0)
        with pytest.raises(IonQOriginError, match="only to http://127.0.0.1:" + port) as info:
            backend.run(BELL, shots=20)
        assert foreign.requests == []
    assert fake.count("GET", "/results/") == 0
    assert fake.results_origin.split("//")[1] in str(info.value)
    assert backend.ledger.rows[-1].status == "settled"  # it ran: IonQ charges for it
    _assert_key_absent(info.value)


@pytest.mark.slow
def test_keras_config_and_saved_model_never_hold_the_key(fake: FakeIonQ, tmp_path: Path, monkeypatch) -> None:
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    from qstore.tf import QuantumLayer

    options = {"api_key": API_KEY, "url": fake.url, "poll_interval": 0.005, "timeout": 60}
    plugins = ("qstore.backends.ionq.plugin", "qstore.tf.plugin")
    with isolated_registry(*plugins, strict=True, disabled=()):
        layer = QuantumLayer(2, depth=1, backend="ionq.simulator", backend_options=options, shots=100)
        config = layer.get_config()
        assert config["backend_options"] == {"url": fake.url, "poll_interval": 0.005, "timeout": 60}
        assert API_KEY not in json.dumps(config) and API_KEY not in repr(vars(layer))
        inputs = keras.Input((2,))
        model = keras.Model(inputs, layer(inputs))
        path = tmp_path / "m.keras"
        model.save(path)
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                assert API_KEY.encode() not in archive.read(name), name
        monkeypatch.setenv("IONQ_API_KEY", API_KEY)  # a loaded model takes the key from the environment
        loaded = keras.models.load_model(path)
        assert loaded.layers[1].backend.name == "ionq.simulator"
        assert loaded.predict(np.array([[0.1, 0.2]]), verbose=0).shape == (1, 2)


@pytest.mark.slow
def test_torch_layer_state_and_repr_never_hold_the_key(fake: FakeIonQ, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from qstore.torch import QuantumLayer

    options = {"api_key": API_KEY, "url": fake.url, "poll_interval": 0.005, "timeout": 60}
    with isolated_registry("qstore.backends.ionq.plugin", "qstore.torch.plugin", strict=True, disabled=()):
        layer = QuantumLayer(2, depth=1, backend="ionq.simulator", backend_options=options, shots=100)
    model = torch.nn.Sequential(layer)
    path = tmp_path / "state.pt"
    torch.save(model.state_dict(), path)
    assert API_KEY.encode() not in path.read_bytes()
    assert API_KEY not in repr(model) and API_KEY not in repr(vars(layer))
    whole = tmp_path / "model.pt"
    with pytest.raises(TypeError):  # the whole module would carry the backend: refused, not written
        torch.save(model, whole)
    assert not whole.exists() or API_KEY.encode() not in whole.read_bytes()
