"""The kernel service over real HTTP and WebSocket on 127.0.0.1: jobs, progress, cancel, restart, auth."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("strawberry")
pytest.importorskip("uvicorn")
from websockets.sync.client import connect

from qstore.core.kernels import QuantumKernel, zz_feature_map
from qstore.service import BackgroundServer, ServiceError, check_bind

FM = {"name": "zz", "nFeatures": 2, "options": {"reps": 1}}
SUBMIT = "mutation($input: KernelJobInput!) { submitKernelJob(input: $input) { id status } }"
JOB = "query($id: ID!) { job(id: $id) { id status done total error result stats { reused computed circuits } } }"


def post(
    url: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, body, headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        return {"http_status": exc.code, **json.loads(exc.read() or b"{}")}


def data(n: int, seed: int) -> list[list[float]]:
    return np.random.default_rng(seed).uniform(0, 2 * np.pi, (n, 2)).tolist()


def wait(url: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = post(url, JOB, {"id": job_id})["data"]["job"]
        if job["status"] in ("done", "failed", "cancelled"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_submit_progress_result_equals_in_process_kernel(tmp_path: Path) -> None:
    X = data(12, 0)
    with BackgroundServer(tmp_path) as server:
        job_id = post(server.url, SUBMIT, {"input": {"featureMap": FM, "x": X, "batchSize": 10}})["data"][
            "submitKernelJob"
        ]["id"]
        ws_url = server.url.replace("http", "ws")
        updates = []
        with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(ws.recv(timeout=30))["type"] == "connection_ack"
            query = "subscription($id: ID!) { jobProgress(id: $id) { status done total } }"
            ws.send(
                json.dumps(
                    {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"id": job_id}}}
                )
            )
            while True:
                message = json.loads(ws.recv(timeout=60))
                if message["type"] == "complete":
                    break
                assert message["type"] == "next", message
                updates.append(message["payload"]["data"]["jobProgress"])
        job = wait(server.url, job_id)
    assert updates[-1]["status"] == "done"
    assert [u["done"] for u in updates] == sorted(u["done"] for u in updates)
    expected = QuantumKernel(zz_feature_map(2, reps=1), progress=False)(np.array(X))
    np.testing.assert_allclose(np.array(job["result"]), expected, atol=1e-12)
    assert job["stats"] == {"reused": 0, "computed": 66, "circuits": 12}


def test_entries_are_paid_once_across_jobs_and_estimates_say_so(tmp_path: Path) -> None:
    X = data(30, 1)
    overlap = {"featureMap": FM, "method": "overlap"}
    with BackgroundServer(tmp_path) as server:
        first = post(server.url, SUBMIT, {"input": {**overlap, "x": X[:20]}})["data"]["submitKernelJob"]["id"]
        assert wait(server.url, first)["stats"]["computed"] == 190
        estimate = post(
            server.url,
            "query($input: KernelJobInput!) { estimate(input: $input) { stats { reused computed circuits } usd seconds calibrated } }",
            {"input": {**overlap, "x": X}},
        )["data"]["estimate"]
        assert estimate.pop("seconds") > 0 and isinstance(estimate.pop("calibrated"), bool)
        assert estimate == {
            "stats": {"reused": 190, "computed": 435 - 190, "circuits": 435 - 190},
            "usd": 0.0,
        }
        second = post(server.url, SUBMIT, {"input": {**overlap, "x": X}})["data"]["submitKernelJob"]["id"]
        assert wait(server.url, second)["stats"] == estimate["stats"]
        value = post(
            server.url,
            "query($fm: FeatureMapInput!, $x: [Float!]!, $y: [Float!]!) { kernelValue(featureMap: $fm, x: $x, y: $y) }",
            {"fm": FM, "x": X[3], "y": X[25]},
        )["data"]["kernelValue"]
        K = QuantumKernel(zz_feature_map(2, reps=1), progress=False)(np.array([X[3], X[25]]))
        assert value == pytest.approx(K[0, 1], abs=1e-12)
        cleared = post(
            server.url, "mutation($fm: FeatureMapInput) { clearCache(featureMap: $fm) }", {"fm": FM}
        )
        assert cleared["data"]["clearCache"] == 435
        assert (
            post(
                server.url,
                "query($fm: FeatureMapInput!, $x: [Float!]!, $y: [Float!]!) { kernelValue(featureMap: $fm, x: $x, y: $y) }",
                {"fm": FM, "x": X[3], "y": X[25]},
            )["data"]["kernelValue"]
            is None
        )


def test_cancel_stops_backend_work_and_keeps_paid_entries(tmp_path: Path) -> None:
    X = data(400, 2)
    with BackgroundServer(tmp_path) as server:
        job_id = post(
            server.url, SUBMIT, {"input": {"featureMap": FM, "x": X, "method": "overlap", "batchSize": 50}}
        )["data"]["submitKernelJob"]["id"]
        deadline = time.monotonic() + 60
        while post(server.url, JOB, {"id": job_id})["data"]["job"]["done"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        cancelled = post(server.url, "mutation($id: ID!) { cancelJob(id: $id) { id } }", {"id": job_id})
        assert cancelled["data"]["cancelJob"]["id"] == job_id
        job = wait(server.url, job_id)
        paid = server.manager.store.count()
    assert job["status"] == "cancelled" and job["result"] is None
    assert 0 < paid < 400 * 399 // 2 and paid % 50 == 0
    assert job["done"] < job["total"]


def test_restart_keeps_finished_jobs_and_their_results(tmp_path: Path) -> None:
    X = data(8, 3)
    with BackgroundServer(tmp_path) as server:
        job_id = post(server.url, SUBMIT, {"input": {"featureMap": FM, "x": X}})["data"]["submitKernelJob"][
            "id"
        ]
        before = wait(server.url, job_id)
    with BackgroundServer(tmp_path) as server:
        jobs = post(server.url, "{ jobs { id status } }")["data"]["jobs"]
        after = post(server.url, JOB, {"id": job_id})["data"]["job"]
    assert jobs == [{"id": job_id, "status": "done"}]
    assert after == before


def test_concurrent_clients_share_the_store(tmp_path: Path) -> None:
    X = data(20, 4)
    results: list[dict[str, Any]] = []
    with BackgroundServer(tmp_path, workers=2) as server:

        def client(k: int) -> None:
            inputs = {"featureMap": FM, "x": X, "method": "overlap", "batchSize": 20}
            job_id = post(server.url, SUBMIT, {"input": inputs})["data"]["submitKernelJob"]["id"]
            results.append(wait(server.url, job_id))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = server.manager.store.count()
    assert stored == 190
    assert all(r["status"] == "done" for r in results) and len(results) == 4
    for r in results[1:]:
        np.testing.assert_array_equal(r["result"], results[0]["result"])


def test_malformed_and_invalid_requests_get_graphql_errors_not_tracebacks(tmp_path: Path) -> None:
    with BackgroundServer(tmp_path) as server:
        syntax = post(server.url, "{ jobs { id ")
        unknown = post(server.url, JOB, {"id": "nope"})
        bad_shape = post(server.url, SUBMIT, {"input": {"featureMap": FM, "x": [[1.0, 2.0, 3.0]]}})
        bad_map = post(
            server.url, SUBMIT, {"input": {"featureMap": {"name": "zzz", "nFeatures": 2}, "x": [[1.0, 2.0]]}}
        )
    for answer in (syntax, unknown, bad_shape, bad_map):
        assert answer["errors"], answer
        assert "Traceback" not in json.dumps(answer)
    assert "Syntax Error" in syntax["errors"][0]["message"]
    assert "no job with id 'nope'" in unknown["errors"][0]["message"]
    assert "shape (n_samples, 2)" in bad_shape["errors"][0]["message"]
    assert "'zzz' is unknown" in bad_map["errors"][0]["message"]


def test_non_loopback_bind_needs_a_token_and_a_token_is_enforced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QSTORE_SERVICE_TOKEN", raising=False)
    with pytest.raises(ServiceError, match="without a token"):
        check_bind("0.0.0.0", None)
    assert check_bind("127.0.0.1", None) is None and check_bind("::1", None) is None
    assert check_bind("0.0.0.0", "s3cret") == "s3cret"
    with BackgroundServer(tmp_path, token="s3cret") as server:
        refused = post(server.url, "{ jobs { id } }")
        wrong = post(server.url, "{ jobs { id } }", token="other")
        allowed = post(server.url, "{ jobs { id } }", token="s3cret")
    assert refused["http_status"] == 401 and wrong["http_status"] == 401
    assert allowed == {"data": {"jobs": []}}
