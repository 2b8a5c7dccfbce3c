"""What a run did, read from its directory: `RunReport` (steps, time split, throughput, cost against
budget, routing decisions), `list_runs`, and `plot_run` (matplotlib PNG).

Everything here only reads, so it works on a run that another process is still writing (manifest,
metrics parts and checkpoints all appear atomically; a torn last ledger line is skipped).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from qstore.core.errors import CorruptDataError, MissingDependencyError
from qstore.core.runs.ledger import Charge, read_ledger
from qstore.core.runs.manifest import MANIFEST, Manifest, read_manifest
from qstore.core.runs.run import PHASES, SCHEMA, read_rows

__all__ = ["RunReport", "build_report", "list_runs", "load_report", "plot_run"]

_Rows = Sequence[Mapping[str, float | int]]


def _total(rows: _Rows, key: str) -> float:
    return float(sum(v for r in rows if not math.isnan(v := float(r.get(key, math.nan)))))


@attrs.frozen
class RunReport:
    """A run's summary; ``to_dict()`` for JSON, ``table()`` for people."""

    name: str
    status: str
    framework: str | None
    steps: int
    epochs: int
    resumes: int
    last_checkpoint: str | None
    train_seconds: float
    time_split: dict[str, float]
    circuits: int
    circuits_per_second: float
    cost_by_backend: dict[str, float]
    cost_usd: float
    budget_usd: float | None
    decisions: list[dict[str, Any]]
    final: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``qstore runs show --json``)."""
        return attrs.asdict(self)

    def table(self) -> str:
        """A text report: one section per topic, aligned columns."""
        split = self.time_split
        total = sum(split.values()) or 1.0
        lines = [
            f"run {self.name}: {self.status}"
            + (f" ({self.framework})" if self.framework else "")
            + f", {self.steps} steps in {self.epochs} epochs, {self.resumes} resume(s)",
            f"last checkpoint: {self.last_checkpoint or 'none'}",
            "",
            f"time: {self.train_seconds:.2f} s of training steps",
        ]
        lines += [
            f"  {part:<18}{seconds:>9.3f} s {100 * seconds / total:>6.1f} %"
            for part, seconds in split.items()
        ]
        lines += ["", f"circuits executed: {self.circuits} ({self.circuits_per_second:.1f} circuits/s)", ""]
        budget = "no budget" if self.budget_usd is None else f"budget {self.budget_usd:.2f} USD"
        lines.append(f"cost: {self.cost_usd:.4f} USD ({budget})")
        lines += [f"  {backend:<18}{usd:>12.4f} USD" for backend, usd in self.cost_by_backend.items()]
        lines += ["", f"routing decisions: {len(self.decisions) or 'none recorded'}"]
        for decision in self.decisions:
            chosen = decision.get("backend", decision.get("chosen", "?"))
            reason = decision.get("reason", decision.get("reasons", ""))
            lines.append(f"  -> {chosen}: {reason}")
        for phase, values in self.final.items():
            shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
            lines.append(f"final {phase}: {shown}")
        return "\n".join(lines)


def build_report(manifest: Manifest, rows: _Rows, charges: Sequence[Charge]) -> RunReport:
    """The report of a run from its manifest, its (deduplicated) metrics rows and its ledger."""
    train = [r for r in rows if r.get("phase", 0.0) == 0.0]
    train_seconds = _total(train, "step_seconds")
    split = {
        "quantum execution": _total(train, "circuit_seconds"),
        "queue": _total(train, "queue_seconds"),
        "storage": _total(train, "storage_seconds"),
    }
    split = {"classical": max(0.0, train_seconds - sum(split.values())), **split}
    circuits = int(_total(rows, "circuits"))
    by_backend: dict[str, float] = {}
    for charge in charges:
        by_backend[charge.backend] = by_backend.get(charge.backend, 0.0) + charge.usd
    final: dict[str, dict[str, float]] = {}
    for code, phase in enumerate(PHASES):
        last = [r for r in rows if r.get("phase", 0.0) == float(code)]
        if last:
            hidden = set(SCHEMA) - {"loss"}  # the final values are the model's, not the bookkeeping
            final[phase] = {k: float(v) for k, v in last[-1].items() if k not in hidden and not math.isnan(v)}
    epochs = [int(r["epoch"]) for r in rows if "epoch" in r and not math.isnan(r["epoch"])]
    return RunReport(
        name=manifest.name,
        status=manifest.status,
        framework=manifest.framework,
        steps=len(train),
        epochs=max(epochs) + 1 if epochs else 0,
        resumes=len(manifest.resumes),
        last_checkpoint=manifest.last_checkpoint,
        train_seconds=train_seconds,
        time_split=split,
        circuits=circuits,
        circuits_per_second=circuits / train_seconds if train_seconds > 0 else 0.0,
        cost_by_backend=by_backend,
        cost_usd=sum(by_backend.values()),
        budget_usd=manifest.budget_usd,
        decisions=list(manifest.decisions),
        final=final,
    )


def load_report(folder: str | Path) -> RunReport:
    """The report of the run stored in ``folder`` (read-only; fine while the run is writing)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    return build_report(manifest, read_rows(folder, manifest.storage["metrics"]), read_ledger(folder))


def list_runs(root: str | Path = "runs") -> list[dict[str, Any]]:
    """One summary per run directory under ``root``: name, status, created, updated, or the error."""
    root = Path(root)
    if not root.is_dir():
        return []
    found: list[dict[str, Any]] = []
    for folder in sorted(p for p in root.iterdir() if (p / MANIFEST).exists()):
        try:
            m = read_manifest(folder)
        except CorruptDataError as exc:
            found.append({"name": folder.name, "status": "unreadable", "error": str(exc)})
            continue
        found.append(
            {
                "name": m.name,
                "status": m.status,
                "framework": m.framework,
                "created": m.created,
                "updated": m.updated,
                "last_checkpoint": m.last_checkpoint,
            }
        )
    return found


def plot_run(folder: str | Path, out: str | Path) -> Path:
    """Save a PNG of loss/accuracy per step, circuits/s and cumulative cost; returns its path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            "plotting a run needs matplotlib: pip install 'qstore-core[draw]'"
        ) from exc
    folder = Path(folder)
    manifest = read_manifest(folder)
    rows = read_rows(folder, manifest.storage["metrics"])
    charges = read_ledger(folder)
    fig, (ax_loss, ax_rate, ax_cost) = plt.subplots(1, 3, figsize=(14, 4))
    for code, phase in enumerate(PHASES):
        part = [r for r in rows if r.get("phase", 0.0) == float(code)]
        for key in ("loss", "accuracy"):
            points = [(r["step"], r[key]) for r in part if key in r]
            if points:
                ax_loss.plot(*zip(*points, strict=True), label=f"{phase} {key}", marker="." if code else None)
    ax_loss.set(xlabel="step", title=f"run {manifest.name}")
    ax_loss.legend()
    rate = [
        (r["step"], r["circuits"] / r["step_seconds"])
        for r in rows
        if r.get("phase", 0.0) == 0.0 and r.get("step_seconds", 0.0) > 0 and "circuits" in r
    ]
    if rate:
        ax_rate.plot(*zip(*rate, strict=True))
    ax_rate.set(xlabel="step", ylabel="circuits / s", title="throughput")
    total, steps, cumulative = 0.0, [], []
    for charge in charges:
        total += charge.usd
        steps.append(charge.step)
        cumulative.append(total)
    ax_cost.plot(steps, cumulative, drawstyle="steps-post")
    if manifest.budget_usd is not None:
        ax_cost.axhline(manifest.budget_usd, color="red", linestyle="--", label="budget")
        ax_cost.legend()
    ax_cost.set(xlabel="step", ylabel="USD", title="cumulative cost")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
