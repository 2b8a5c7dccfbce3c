"""How much memory this process may still allocate: the tightest of the machine, its cgroup and
its address-space limit, so a workload is refused with a clear error instead of being killed."""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

from qstore.core.errors import ResourceError

__all__ = ["available_memory", "rows_that_fit"]

_CGROUP_V2 = Path("/sys/fs/cgroup")
_CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return None if text in ("", "max") else int(text)


def _machine_available() -> int:
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # no /proc: free pages


def _cgroup_available() -> int | None:
    for limit_file, usage_file in (
        (_CGROUP_V2 / "memory.max", _CGROUP_V2 / "memory.current"),
        (_CGROUP_V1 / "memory.limit_in_bytes", _CGROUP_V1 / "memory.usage_in_bytes"),
    ):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            return max(limit - usage, 0)
    return None


def _address_space_available() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as f:
            used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return None
    return max(soft - used, 0)


def available_memory() -> int:
    """Bytes this process can still allocate: min of MemAvailable, the cgroup's remaining limit
    (v2 ``memory.max`` or v1 ``limit_in_bytes``) and the unused part of ``RLIMIT_AS``."""
    limits = [_machine_available(), _cgroup_available(), _address_space_available()]
    return min(v for v in limits if v is not None)


def rows_that_fit(batch: int, bytes_per_row: int, what: str, fraction: float = 0.5) -> int:
    """How many of ``batch`` rows to process at once so their working memory stays within
    ``fraction`` of `available_memory`; a `ResourceError` when not even one row fits."""
    budget = int(fraction * available_memory())
    if bytes_per_row > budget:
        raise ResourceError(
            f"{what} needs {bytes_per_row / 2**30:.2f} GiB of working memory per row but only "
            f"{budget / 2**30:.2f} GiB is available to this process; use fewer qubits or single precision"
        )
    return max(1, min(batch, budget // max(bytes_per_row, 1)))
