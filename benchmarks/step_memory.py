"""Memory by step: the resident memory of the process that runs a district's `roster_sync` (the
job executed in this process, as `make bench` times it), sampled every 50 ms and attributed to
the step running at the time; a first sync, then a no-change re-sync. Writes one section of
`benchmarks/MEMORY.md` per size and commit, so that a change's before and after sit side by side.

    python -m benchmarks.step_memory [--students 200000] [--out benchmarks/MEMORY.md] [--label L]
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
from dagster import DagsterEventType

from benchmarks.machine import commit_stamp
from benchmarks.provider_process import ProviderProcess
from benchmarks.sections import write_section
from benchmarks.workspace import Workspace

TITLE = (
    "# Memory by step\n\nWritten by `python -m benchmarks.step_memory`; never edited by hand. "
    "Peak: the process's largest resident set while the step ran. Rise: that peak less the "
    "resident set when the step started, i.e. what the step itself added (memory that earlier "
    "steps freed stays with the process, so a step that needs less than they left shows a rise "
    "of 0).\n"
)
SAMPLE_S = 0.05
END_EVENTS = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Sampler:
    """(time, resident MB) every 50 ms on a thread of its own."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append((time.time(), resident_mb()))
            time.sleep(SAMPLE_S)


@dataclass(frozen=True)
class StepMemory:
    step: str
    seconds: float
    peak_mb: float
    rise_mb: float


def by_step(run_id: str, samples: list[tuple[float, float]]) -> list[StepMemory]:
    """Each step's duration, peak and rise, from the run's step events and the samples."""
    from rostering_pipeline.runner import instance

    spans: dict[str, list[float]] = {}
    for record in instance().all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            spans[event.step_key] = [record.timestamp]
        elif event.event_type in END_EVENTS:
            spans[event.step_key].append(record.timestamp)
    steps = []
    for step, (start, end) in sorted(spans.items(), key=lambda item: item[1][0]):
        during = [mb for at, mb in samples if start <= at <= end]
        before = [mb for at, mb in samples if at <= start]
        peak = max(during, default=before[-1] if before else 0.0)
        rise = max(0.0, peak - before[-1]) if before else 0.0
        steps.append(StepMemory(step, end - start, peak, rise))
    return steps


def render(students: int, stamp: str, runs: dict[str, list[StepMemory]]) -> str:
    names = list(runs)
    lines = [
        f"## {students:,} students at {stamp}",
        "",
        "| step | " + " | ".join(f"{n} s | peak MB | rise MB" for n in names) + " |",
        "|---|" + "---:|---:|---:|" * len(names),
    ]
    columns = [{m.step: m for m in steps} for steps in runs.values()]
    for step in (m.step for m in next(iter(runs.values()))):
        cells = [
            f"{c[step].seconds:.1f} | {c[step].peak_mb:,.0f} | {c[step].rise_mb:,.0f}"
            for c in columns
        ]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    peaks = " / ".join(f"{max(m.peak_mb for m in steps):,.0f}" for steps in runs.values())
    lines += ["", f"Process peak ({' / '.join(names)}): {peaks} MB."]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--students", default=200_000, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--label", help="Names the code measured (default: the commit, +dirty if edited).")
def main(students: int, out: Path | None, label: str | None) -> None:
    with Workspace() as ws, ProviderProcess(students) as provider:
        ws.register("memory", provider.base_url, provider.token_url)
        from rostering_pipeline.definitions import defs  # noqa: F401  (imported before sampling)
        from rostering_pipeline.runner import sync_in_process

        runs = {}
        with Sampler() as sampler:
            for name in ("first sync", "no-change re-sync"):
                sampler.samples.clear()
                outcome = sync_in_process("memory", mode="full")
                if not outcome.success:
                    raise click.ClickException(f"{name} failed: {outcome.message}")
                runs[name] = by_step(outcome.run_id, list(sampler.samples))
    text = render(students, label or commit_stamp(), runs)
    if out:
        write_section(out, text, TITLE)
    click.echo(text)


if __name__ == "__main__":
    main()
