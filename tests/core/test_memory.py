"""The memory budget honours the process's own limits, not only the machine's free memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from qstore.core.memory import available_memory


def test_available_memory_is_positive_and_at_most_the_machine() -> None:
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    assert 0 < available_memory() <= total


def test_an_address_space_limit_lowers_the_budget_and_refuses_big_states() -> None:
    child = textwrap.dedent(
        """
        import resource
        import numpy as np
        from qstore.core import CapabilityError, Circuit, NumpyBackend, ResourceError
        from qstore.core.memory import available_memory
        with open("/proc/self/status") as f:
            used = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        limit = used + 256 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
        have = available_memory()
        assert have <= 256 * 2**20, have
        try:
            NumpyBackend().run(Circuit(23).h(0), observables="Z0")  # 4 x 128 MiB states > budget
        except (ResourceError, CapabilityError) as exc:
            print("refused:", exc)
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and ("GiB" in result.stdout or "at most" in result.stdout)
