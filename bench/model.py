"""What a bench run measures and how results are combined and printed (pure: no processes, no I/O).

Theory of operation: a scenario run yields :class:`Metric` values, each with our figure and its reference figure
from the same run. Runs are repeated; :func:`aggregate` keeps, per metric, the median of our figures, the median
of the reference figures and the median of the per-run ratios ours/reference (a ratio taken inside one run
cancels most of the drift of a shared machine). A metric whose feature does not exist yet carries ``None`` and
a reason, and prints as ``n/a``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

MB = 1_000_000
MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Timing:
    """One download: seconds since it was asked for, and the downloader's costs."""

    t_first: float  # first observation of any progress
    done_at_first: int  # bytes already done at that observation (progress is polled)
    t_done: float
    size: int
    cpu_seconds: float
    peak_rss: int
    disk_stalled: float | None = None  # seconds the disk under the download was stalled (bench.disk_stalls)

    @property
    def mb_s(self) -> float:
        return self.size / MB / self.t_done if self.t_done > 0 else 0.0

    @property
    def mb_s_from_first(self) -> float:
        span = self.t_done - self.t_first
        return (self.size - self.done_at_first) / MB / span if span > 0 else 0.0


def describe(t: Timing) -> str:
    """One download in a line, for the bench's progress output: a reader can then match a slow run to a stalled
    disk (the table shows only medians)."""
    stalled = "" if t.disk_stalled is None else f", disk stalled {t.disk_stalled:.2f} s"
    return f"{t.mb_s:.0f} MB/s in {t.t_done:.2f} s, {t.cpu_seconds:.2f} CPU-s{stalled}"


@dataclass(frozen=True)
class SwarmRun:
    timings: list[Timing]
    seeder_uploaded: int | None = None  # bytes the first seeder sent, when metered
    seeders_cpu: float = 0.0  # CPU seconds of all seeder processes during the download

    @property
    def all_done(self) -> float:
        return max(t.t_done for t in self.timings)

    @property
    def cpu_seconds(self) -> float:
        """Every process of the run: the downloaders and the seeders."""
        return sum(t.cpu_seconds for t in self.timings) + self.seeders_cpu


@dataclass(frozen=True)
class Metric:
    scenario: str
    name: str
    unit: str
    ours: float | None
    ref: float | None
    ref_name: str
    goal: str = ""
    note: str = ""  # why ``ours`` is None (n/a), or a remark


@dataclass
class Summary:
    scenario: str
    name: str
    unit: str
    ref_name: str
    goal: str
    ours: list[float] = field(default_factory=list)
    refs: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return max(len(self.ours), len(self.refs))


def _median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def aggregate(metrics: Sequence[Metric]) -> list[Summary]:
    out: dict[tuple[str, str], Summary] = {}
    for m in metrics:
        s = out.setdefault((m.scenario, m.name), Summary(m.scenario, m.name, m.unit, m.ref_name, m.goal))
        if m.ours is not None:
            s.ours.append(m.ours)
        if m.ref is not None:
            s.refs.append(m.ref)
        if m.ours is not None and m.ref:
            s.ratios.append(m.ours / m.ref)
        if m.note and m.note not in s.notes:
            s.notes.append(m.note)
    return list(out.values())


def size_label(n: int) -> str:
    """8589934592 -> '8 GiB', 16777216 -> '16 MiB'."""
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit in ("MB", "MB/s", "req/s") or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def better(unit: str) -> str:
    """Rates are better high; times, sizes, CPU and copies better low; cores busy is context, neither."""
    if unit == "cores":
        return "-"
    return "higher" if unit in ("MB/s", "req/s", "of link") else "lower"


def render(summaries: Sequence[Summary]) -> str:
    """A plain-text table: one line per metric, medians and the median per-run ratio."""
    header = ("scenario", "metric", "ours", "reference", "ref value", "ratio", "better", "goal", "runs")
    rows = [header]
    notes: list[str] = []
    for s in summaries:
        ratio = _median(s.ratios)
        rows.append((s.scenario, s.name, fmt(_median(s.ours), s.unit), s.ref_name, fmt(_median(s.refs), s.unit),
                     "n/a" if ratio is None else f"{ratio:.2f}x", better(s.unit), s.goal, str(s.runs)))
        notes.extend(f"{s.scenario}: {n}" for n in s.notes if f"{s.scenario}: {n}" not in notes)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in notes]
    return "\n".join(lines)
