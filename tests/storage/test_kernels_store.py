"""ParquetKernelStore: entries survive the process, concurrent writers (threads and processes) are safe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from qstore.core.errors import CorruptDataError
from qstore.core.kernels import QuantumKernel, zz_feature_map
from qstore.core.storage import KernelStore

pytest.importorskip("pyarrow")
from qstore.storage.kernels import ParquetKernelStore

FM = zz_feature_map(3, reps=1)


def test_entries_round_trip_and_first_value_wins(tmp_path: Path) -> None:
    store = ParquetKernelStore(tmp_path)
    assert isinstance(store, KernelStore)
    store.put("s", ["a", "b"], ["c", "d"], [0.25, 0.5])
    store.put("s", ["a", "e"], ["c", "f"], [0.9, 0.125])
    again = ParquetKernelStore(tmp_path)
    np.testing.assert_array_equal(
        again.get("s", ["a", "b", "e", "z"], ["c", "d", "f", "z"]), [0.25, 0.5, 0.125, np.nan]
    )
    assert again.spaces() == ["s"] and again.count() == 3
    assert again.clear() == 3 and again.count() == 0
    assert np.isnan(store.get("s", ["a"], ["c"])).all()


def test_a_restarted_process_reuses_every_entry(tmp_path: Path) -> None:
    X = np.random.default_rng(0).uniform(0, 6, (40, 3))
    script = textwrap.dedent(
        f"""
        import numpy as np
        from qstore.core.kernels import QuantumKernel, zz_feature_map
        from qstore.storage.kernels import ParquetKernelStore
        X = np.random.default_rng(0).uniform(0, 6, (40, 3))
        qk = QuantumKernel(zz_feature_map(3, reps=1), method="overlap", progress=False,
                           store=ParquetKernelStore({str(tmp_path)!r}))
        np.save({str(tmp_path / "k.npy")!r}, qk(X))
        print(qk.last_stats.computed)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 40 * 39 // 2
    qk = QuantumKernel(FM, method="overlap", store=ParquetKernelStore(tmp_path), progress=False)
    K = qk(X)
    assert qk.last_stats is not None and (qk.last_stats.computed, qk.last_stats.reused) == (0, 780)
    np.testing.assert_array_equal(K, np.load(tmp_path / "k.npy"))


def test_concurrent_writers_in_threads_and_processes_lose_nothing(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from qstore.storage.kernels import ParquetKernelStore
        store, w = ParquetKernelStore(sys.argv[1]), int(sys.argv[2])
        for k in range(20):
            store.put("s", [f"p{w}-{k}", "shared"], [f"q{w}-{k}", "shared2"], [w + k / 100, 0.5])
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(w)], stderr=subprocess.PIPE)
        for w in range(3)
    ]
    store = ParquetKernelStore(tmp_path)

    def write(w: int) -> None:
        for k in range(20):
            store.put("s", [f"p{w}-{k}"], [f"q{w}-{k}"], [w + k / 100])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(3, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
    fresh = ParquetKernelStore(tmp_path)
    assert fresh.count("s") == 6 * 20 + 1
    a = [f"p{w}-{k}" for w in range(6) for k in range(20)]
    b = [f"q{w}-{k}" for w in range(6) for k in range(20)]
    expected = [w + k / 100 for w in range(6) for k in range(20)]
    np.testing.assert_array_equal(fresh.get("s", a, b), expected)
    assert not list(tmp_path.rglob(".*.tmp"))


def test_an_unreadable_part_is_a_clear_error(tmp_path: Path) -> None:
    store = ParquetKernelStore(tmp_path)
    store.put("s", ["a"], ["b"], [0.5])
    (part,) = tmp_path.rglob("part-*.parquet")
    (part.parent / "part-99999999999999999999-0-x.parquet").write_bytes(b"not parquet")
    with pytest.raises(CorruptDataError, match="unreadable"):
        ParquetKernelStore(tmp_path).get("s", ["a"], ["b"])
