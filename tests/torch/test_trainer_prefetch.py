"""The trainer's ``prefetch``: identical training with and without it; background errors surface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from qstore.core.errors import ArgumentError, StorageError
from qstore.core.runs import Run
from qstore.torch import QuantumLayer, Trainer

pytestmark = pytest.mark.timeout(120)


def data(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(n, 3, generator=g)
    return x, (x[:, 1] > 0).long()


def fit(prefetch: int, run: Run | None = None, x=None, epochs: int = 2) -> tuple[nn.Module, list]:
    torch.manual_seed(0)
    net = nn.Sequential(QuantumLayer(3, depth=1, bases="Z"), nn.Dropout(0.2), nn.Linear(3, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    trainer = Trainer(
        net, opt, nn.CrossEntropyLoss(), run=run, batch_size=8, progress=False, prefetch=prefetch
    )
    xs, ys = data()
    history = trainer.fit(xs if x is None else x, ys, epochs=epochs)
    return net, history


@pytest.mark.parametrize("prefetch", [1, 3])
def test_prefetching_trains_bit_identically(prefetch: int, tmp_path: Path) -> None:
    plain, plain_history = fit(0)
    with Run.start("p", root=tmp_path, storage="memory") as run:
        ahead, history = fit(prefetch, run)
        rows = run.metrics()
    assert history == plain_history
    for a, b in zip(plain.parameters(), ahead.parameters(), strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert [r["step"] for r in rows if r["phase"] == 0] == list(range(10))


class Failing:
    """Rows of a tensor, except that gathering the ``fail_at``-th batch raises."""

    def __init__(self, x: torch.Tensor, fail_at: int) -> None:
        self.x, self.fail_at, self.calls = x, fail_at, 0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise ArgumentError("cannot read batch 3 of the dataset")
        return self.x[idx]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_an_error_preparing_a_batch_surfaces_in_fit(prefetch: int) -> None:
    with pytest.raises(ArgumentError, match="cannot read batch 3"):
        fit(prefetch, x=Failing(data()[0], fail_at=3))


def test_a_failed_background_write_surfaces_in_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Run.start("w", root=tmp_path, storage="memory") as run:

        def broken(step: int, **row: float) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(run._metrics, "log", broken)
        with pytest.raises(StorageError, match="a background run write failed \\(OSError: disk full\\)"):
            fit(1, run)
        monkeypatch.undo()


def test_prefetch_must_be_a_non_negative_integer() -> None:
    net = nn.Linear(2, 2)
    with pytest.raises(ArgumentError, match="prefetch must be a non-negative integer"):
        Trainer(net, torch.optim.SGD(net.parameters(), lr=0.1), nn.MSELoss(), prefetch=-1)
