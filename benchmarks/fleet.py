"""A fleet of districts through the daemon, as production runs it: districts behind local
providers (`dev-provider fleet`: several client ids each), in four time zones, all due at the same
instant (their schedules set to that instant's wall time in each zone, standing in for 02:00
local), on the repo's dagster.yaml (PostgreSQL storage, the run queue and its limits) with the
real `dagster-daemon`, whose dispatcher looks every minute.

While the fleet runs, the runs in progress and PostgreSQL's connections are sampled every
2 s, and the machine's busy CPU time ten times a second. Afterwards the instance's records give
each run's span, status and tags, and each schedule's and sensor's ticks. `make bench-fleet`
runs 200 districts and writes a section of benchmarks/FLEET.md; the test suite runs a small fleet
for the same invariants.

    python -m benchmarks.fleet [--districts 200] [--out benchmarks/FLEET.md]
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import click
import dagster as dg
import numpy as np
import psutil
import sqlalchemy as sa
import yaml

from benchmarks.memory import Poller
from benchmarks.process_cpu import KIND_NAMES, ProcessCpu, WorkerLife
from rostering_pipeline.alerts import open_alerts
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.defs.run_config import sync_run_config
from rostering_pipeline.defs.run_tags import FRESH_CHECK_JOB
from rostering_pipeline.devserver import DEMO_CLIENT_SECRET as SECRET
from rostering_pipeline.districts import add_district, set_credentials, update_district
from rostering_pipeline.secrets import SecretBox

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVER = os.environ.get(
    "ROSTERING_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
NEVER_DUE = "0 0 1 1 *"  # until the fleet is made due
EVERY_MINUTE = "* * * * *"
REFUSED_SECRET = "not-the-provider-s-secret"  # noqa: S105 (a fault: refused at the token URL)
SYNC_JOB = "roster_sync"
LEAD_S = 20  # the instant is at least this far ahead of registration (the daemon's start-up)
SAMPLE_S = 2.0  # the instance and PostgreSQL: often enough to see runs of a few seconds
CPU_SAMPLE_S = 0.1
TICK_S = 20  # a dispatcher tick of a small fleet with nothing due ends within this
STARTUP_S = 120
PROVIDER_LIMIT = 4  # dagster.yaml: runs per provider client at once
UNCHARGED = "the kernel and what no process was charged"  # machine busy less processes
MAKESPAN_TARGET = 1.25  # the bound: makespan within 1.25x the ideal
CALIBRATION_RUNS = 5  # solo first syncs, smallest to largest
FAULT_KILL_S = 60.0  # the faulted fleet's daemon is killed this long after the due instant


@dataclass(frozen=True)
class FleetPlan:
    districts: int = 200
    providers: int = 4
    clients: int = 5  # client ids per provider
    students: tuple[int, int] = (500, 5000)
    seed: int = 1
    timeout_s: float = 3600.0
    # Faults: providers stopped before the fleet is due (their districts' runs fail); districts
    # whose secret their provider refuses (due every minute: later ticks must skip them until
    # their credentials are fixed); the daemon killed this long after the fleet is due, and
    # started again.
    providers_down: int = 0
    rejected: int = 0
    kill_daemon_after_s: float | None = None
    start_timeout_s: int | None = None  # run monitoring's, instead of dagster.yaml's
    max_concurrent_runs: int | None = None  # the run queue's, instead of dagster.yaml's


@dataclass(frozen=True)
class Solo:
    """A calibration district's first sync, run alone."""

    students: int
    seconds: float  # from its launch (its process started) to its end
    core_seconds: float  # the machine's busy CPU time meanwhile, every process's
    by_kind: dict[str, float]  # of it, each kind of process's (process_cpu.py)
    workers: list[WorkerLife]  # its run worker's whole life

    @property
    def cores(self) -> float:
        """How many cores the run kept busy, on average: its worker, the provider, PostgreSQL."""
        return self.core_seconds / self.seconds


class MachineCpu(Poller):
    """The machine's busy CPU time (every core, every process), sampled in the background, so
    that the time spent between two instants can be read afterwards."""

    def __init__(self) -> None:
        super().__init__(CPU_SAMPLE_S)
        self._times: list[float] = []
        self._busy: list[float] = []

    def _sample(self) -> bool:
        times = psutil.cpu_times()
        self._times.append(time.time())
        self._busy.append(sum(times) - times.idle - getattr(times, "iowait", 0.0))
        return True

    def busy_between(self, start: float, end: float) -> float:
        """Core-seconds the machine was busy from `start` to `end` (seconds since the epoch)."""
        busy = np.interp([start, end], self._times, self._busy)
        return float(busy[1] - busy[0])


@dataclass(frozen=True)
class Member:
    """A registered district of the fleet: its provider tenant and size."""

    key: str
    url: str
    client_id: str
    students: int
    timezone: str


@dataclass(frozen=True)
class RunSpan:
    run_id: str
    job: str
    district: str
    provider: str
    scheduled: bool  # launched by the dispatcher (not by the calibration)
    retry_of: str | None  # the failed run this one retries (run_retries in dagster.yaml)
    status: str
    created: float  # when the run was created (queued), seconds since the epoch
    start: float
    end: float


@dataclass
class Samples:
    """What the sampler saw while the fleet ran."""

    peak_connections: int = 0
    overlapping_districts: set[str] = field(default_factory=set)
    peak_per_provider: int = 0
    busy_core_seconds: float = 0.0  # the machine's, from the due instant to the last run's end
    by_kind: dict[str, float] = field(default_factory=dict)  # of it, each kind of process's
    workers: list[WorkerLife] = field(default_factory=list)  # the fleet's run workers' lives


class Fleet:
    """`with Fleet(plan, folder) as fleet:` providers up, instance and app database made,
    daemon running; then `fleet.onboard()`, `fleet.calibrate()` (optional), `fleet.run()`."""

    def __init__(self, plan: FleetPlan, folder: Path) -> None:
        self.plan = plan
        self.folder = folder
        self.members: list[Member] = []
        self.calibration: list[Member] = []
        self._stack = ExitStack()
        self._admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
        self._databases: list[str] = []
        self._saved_env: dict[str, str | None] = {}
        self._providers: list[subprocess.Popen] = []

    # -- set-up --------------------------------------------------------------------------------
    def __enter__(self) -> Fleet:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        self.app_url = self._new_database()
        dagster_url = sa.make_url(self._new_database())
        home = self.folder / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        settings = yaml.safe_load((REPO / "dagster.yaml").read_text())
        if self.plan.start_timeout_s is not None:
            settings["run_monitoring"]["start_timeout_seconds"] = self.plan.start_timeout_s
        if self.plan.max_concurrent_runs is not None:
            settings["concurrency"]["runs"]["max_concurrent_runs"] = self.plan.max_concurrent_runs
        (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
        key = "k1:" + base64.b64encode(os.urandom(32)).decode()
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_USERNAME": dagster_url.username or "",
            "DAGSTER_PG_PASSWORD": dagster_url.password or "",
            "DAGSTER_PG_HOST": dagster_url.host or "127.0.0.1",
            "DAGSTER_PG_PORT": str(dagster_url.port or 5432),
            "DAGSTER_PG_DB": dagster_url.database or "",
            "ROSTERING_DATABASE_URL": self.app_url,
            "ROSTERING_DATA_DIR": str(self.folder / "data"),
            "ROSTERING_SECRET_KEYS": key,
            "ROSTERING_DISPATCH_MINUTES": "1",
        }
        self.env.pop("ROSTERING_SNAPSHOT_URL", None)
        for name in [n for n, value in self.env.items() if os.environ.get(n) != value]:
            self._saved_env[name] = os.environ.get(name)  # this process reads the instance too
            os.environ[name] = self.env[name]
        upgrade(self.app_url)
        self.engine = make_engine(self.app_url)
        self.instance = self._stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        self.tenants = self._start_providers()
        self.cpu = self._stack.enter_context(MachineCpu())
        self.processes = self._stack.enter_context(ProcessCpu())
        self._daemon = self._start_daemon("daemon.log")

    def _start_daemon(self, log: str) -> subprocess.Popen:
        argv = [BIN / "dagster-daemon", "run", "-w", "workspace.yaml"]
        return self._stack.enter_context(_running(argv, self.env, self.folder / log, REPO))

    def _new_database(self) -> str:
        name = f"rostering_fleet_{uuid.uuid4().hex[:10]}"
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self._databases.append(name)
        url = sa.make_url(SERVER).set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    def _start_providers(self) -> list[tuple[str, str, int]]:
        """Each provider's tenants as (URL, client id, students), read from its banner; the
        providers generate their districts side by side."""
        plan, processes = self.plan, self._providers
        shares = [len(range(n, plan.districts, plan.providers)) for n in range(plan.providers)]
        for n, share in enumerate(shares):
            argv = [BIN / "rostering-pipeline", "dev-provider", "--port", "0"]
            argv += ["--seed", str(plan.seed + n), "fleet", "--tenants", str(share)]
            argv += ["--clients", str(plan.clients), "--prefix", f"p{n}d"]
            argv += ["--students-range", f"{plan.students[0]}:{plan.students[1]}"]
            processes.append(self._stack.enter_context(_running(argv, self.env, None)))
        tenants = []
        with ThreadPoolExecutor(1) as pool:
            for n, (process, share) in enumerate(zip(processes, shares, strict=True)):
                banner = pool.submit(process.stdout.readline).result(timeout=STARTUP_S)
                if not banner.startswith("OneRoster 1.1 fleet"):
                    raise RuntimeError(f"provider {n} did not start: {banner!r}")
                for _ in range(share):
                    line = pool.submit(process.stdout.readline).result(timeout=STARTUP_S)
                    url, _, client, rest = line.split(maxsplit=3)
                    students = int(rest.split()[0].replace(",", ""))
                    tenants.append((url, client.rstrip(","), students))
        return tenants

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        if getattr(self, "engine", None) is not None:
            self.engine.dispose()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with self._admin.connect() as conn:
            for name in self._databases:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()

    # -- registering ---------------------------------------------------------------------------
    def _register(self, key: str, tenant: tuple[str, str, int], timezone: str, cron: str) -> Member:
        url, client_id, students = tenant
        add_district(
            self.engine,
            key=key,
            name=f"Fleet {key}",
            base_url=url,
            auth_method="oauth2",
            client_id=client_id,
            token_url=f"{url}/oauth/token",
            client_secret=SECRET,
            box=SecretBox.from_env(),
            timezone=timezone,
            schedule=cron,
        )
        return Member(key, url, client_id, students, timezone)

    # -- onboarding: registered and checked, before anything is due ---------------------------
    def onboard(self, calibration: int = 0) -> None:
        """Registers the fleet (and `calibration` districts of their own on the tenants of the
        smallest, middle and largest sizes) with schedules never due, and waits for the
        freshness sensor's first check of each: a district is onboarded long before its 02:00."""
        for n, tenant in enumerate(self.tenants):
            zone = ZONES[n % len(ZONES)]
            self.members.append(self._register(f"f{n:03d}", tenant, zone, NEVER_DUE))
        by_size = sorted(self.tenants, key=lambda tenant: tenant[2])
        for n in range(calibration):
            tenant = by_size[round(n * (len(by_size) - 1) / max(1, calibration - 1))]
            self.calibration.append(self._register(f"solo{n}", tenant, "UTC", NEVER_DUE))
        keys = {member.key for member in (*self.members, *self.calibration)}
        self._wait(lambda spans: [s for s in spans if s.job == FRESH_CHECK_JOB], len(keys))

    # -- calibration: solo runs ----------------------------------------------------------------
    def calibrate(self) -> list[Solo]:
        """The calibration districts' first syncs, each run alone: from its launch (the run's
        process started, its code loaded) to its end, the part of a run that costs the machine;
        the wait in the queue is left out."""
        solo = []
        for member in self.calibration:
            launch = [BIN / "dagster", "job", "launch", "-w", "workspace.yaml", "-j"]
            launch += ["roster_sync", "--config-json", json.dumps(sync_run_config("full"))]
            launch += ["--tags", json.dumps({"dagster/partition": member.key})]
            subprocess.run(launch, cwd=REPO, env=self.env, check=True, capture_output=True)
            spans = self._wait(lambda found, key=member.key: self._syncs(found, {key}))
            launched = self.instance.get_records_for_run(
                spans[0].run_id, of_type=dg.DagsterEventType.RUN_STARTING
            ).records[0]
            start, end = launched.event_log_entry.timestamp, spans[0].end
            solo.append(
                Solo(
                    member.students,
                    end - start,
                    self.cpu.busy_between(start, end),
                    self.processes.by_kind_between(start, end),
                    self.processes.workers_between(start, end),
                )
            )
        return solo

    # -- the fleet -----------------------------------------------------------------------------
    def run(self) -> FleetResult:
        """Makes every onboarded district due at the next whole minute (after the lead), with
        the plan's faults, waits for their runs to finish, and collects what happened."""
        down, rejected = self._stop_providers(), self._reject_credentials()
        instant = self._make_due(every_minute=rejected)
        keys = {member.key for member in self.members}
        samples = Samples()
        stop = threading.Event()
        sampler = threading.Thread(target=self._sample, args=(samples, stop), daemon=True)
        sampler.start()
        try:
            if self.plan.kill_daemon_after_s is not None:
                time.sleep(
                    max(0.0, instant.timestamp() + self.plan.kill_daemon_after_s - time.time())
                )
                self._kill_and_restart_daemon()
            spans = self._wait(lambda found: self._syncs(found, keys), count=len(keys))
            if rejected:  # a tick after their failure, which would launch them again
                failed = max(span.end for span in spans if span.district in rejected)
                after = _next_minute(datetime.fromtimestamp(failed, UTC)).timestamp() + TICK_S
                time.sleep(max(0.0, after - time.time()))
                spans = self._syncs(self._spans(), keys)
        finally:
            stop.set()
            sampler.join()
        last_end = max(span.end for span in spans)
        samples.busy_core_seconds = self.cpu.busy_between(instant.timestamp(), last_end)
        samples.by_kind = self.processes.by_kind_between(instant.timestamp(), last_end)
        samples.workers = self.processes.workers_between(instant.timestamp(), last_end)
        return FleetResult(
            plan=self.plan,
            instant=instant.timestamp(),
            members=list(self.members),
            spans=spans,
            samples=samples,
            ticks=self._ticks(after=instant.timestamp() - 1),
            down=down,
            rejected=rejected,
        )

    def tick_held(self) -> list[float]:
        """The dispatcher's ticks (seconds) that create the fleet's runs with the run queue
        held, so that no run shares the cores with the tick: the daemon is started again with
        no run allowed and the fleet made due; then the runs are deleted, the fleet made due
        never again and the daemon started as it was."""
        self._restart_daemon(max_concurrent_runs=0, log="daemon-held.log")
        instant = self._make_due()
        keys = {member.key for member in self.members}
        self._poll("the fleet's runs", lambda: len(self._syncs(self._spans(), keys)) == len(keys))
        ticks = self._poll(  # the tick's end is recorded after its last run
            "the tick's end",
            lambda: self._ticks(after=instant.timestamp() - 1)["district_dispatcher"],
        )
        for member in self.members:
            update_district(self.engine, member.key, schedule=NEVER_DUE)
        for span in self._syncs(self._spans(), keys):
            self.instance.delete_run(span.run_id)
        self._restart_daemon(max_concurrent_runs=None, log="daemon-released.log")
        return ticks

    def _poll(self, what: str, found: Callable[[], T]) -> T:
        """`found()`'s first truthy answer, asked every SAMPLE_S (each look may read every run:
        the bench's own load) until the plan's timeout."""
        deadline = time.monotonic() + self.plan.timeout_s
        while not (answer := found()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not there after {self.plan.timeout_s:.0f} s")
            time.sleep(SAMPLE_S)
        return answer

    def _restart_daemon(self, max_concurrent_runs: int | None, log: str) -> None:
        """The daemon stopped and started again with the run queue's limit (None: the repo's),
        once it has ticked: its first tick loads the code location, as a running daemon has."""
        restarted = time.time()
        self._daemon.terminate()
        self._daemon.wait()
        home = Path(self.env["DAGSTER_HOME"]) / "dagster.yaml"
        settings = yaml.safe_load(home.read_text())
        repo = yaml.safe_load((REPO / "dagster.yaml").read_text())["concurrency"]["runs"]
        limit = repo["max_concurrent_runs"] if max_concurrent_runs is None else max_concurrent_runs
        settings["concurrency"]["runs"]["max_concurrent_runs"] = limit
        home.write_text(yaml.safe_dump(settings))
        self._daemon = self._start_daemon(log)
        self._poll(
            "the restarted daemon's first tick",
            lambda: self._ticks(after=restarted).get("district_dispatcher"),
        )

    def _make_due(self, every_minute: set[str] = frozenset()) -> datetime:
        """Every district due at the next whole minute after the lead (those in `every_minute`
        every minute from then on); that instant."""
        instant = _next_minute(datetime.now(UTC) + timedelta(seconds=LEAD_S))
        for member in self.members:
            local = instant.astimezone(zoneinfo.ZoneInfo(member.timezone))
            due = f"{local.minute} {local.hour} * * *"
            schedule = EVERY_MINUTE if member.key in every_minute else due
            update_district(self.engine, member.key, schedule=schedule)
        return instant

    def _stop_providers(self) -> set[str]:
        """Stops the plan's first providers; the keys of the districts behind them."""
        for process in self._providers[: self.plan.providers_down]:
            process.terminate()
            process.wait(timeout=30)
        return {member.key for member in self.members if self._provider_of(member) in self._down}

    @property
    def _down(self) -> range:
        return range(self.plan.providers_down)

    @staticmethod
    def _provider_of(member: Member) -> int:
        """Its provider's number, from its tenant's name (`p<n>d…`, `_start_providers`)."""
        return int(member.url.rsplit("/t/p", 1)[1].split("d", 1)[0])

    def _reject_credentials(self) -> set[str]:
        """The plan's first districts of providers still up get a secret their provider
        refuses; their keys."""
        up = [m.key for m in self.members if self._provider_of(m) not in self._down]
        for key in up[: self.plan.rejected]:
            set_credentials(
                self.engine, key, box=SecretBox.from_env(), client_secret=REFUSED_SECRET
            )
        return set(up[: self.plan.rejected])

    def fix_credentials(self, keys: set[str]) -> list[RunSpan]:
        """The rejected districts' credentials fixed: each district's runs, once the dispatcher
        has launched it again (it is due every minute) and that run has ended."""
        refused = self._syncs(self._spans(), keys)
        for key in keys:
            set_credentials(self.engine, key, box=SecretBox.from_env(), client_secret=SECRET)
        return self._wait(lambda found: self._syncs(found, keys), count=len(refused) + len(keys))

    def _kill_and_restart_daemon(self) -> None:
        """The daemon alone killed outright, as a lost container is, and a new one started: the
        code server it had started goes on serving the runs in progress."""
        os.kill(self._daemon.pid, signal.SIGKILL)
        self._daemon.wait()
        self._daemon = self._start_daemon("daemon-restarted.log")

    @staticmethod
    def _syncs(spans: list[RunSpan], keys: set[str]) -> list[RunSpan]:
        return [span for span in spans if span.job == SYNC_JOB and span.district in keys]

    def _wait(self, select, count: int = 1) -> list[RunSpan]:
        """The runs `select` picks, once there are `count` of them and all have ended."""

        def ended() -> list[RunSpan] | None:
            spans = select(self._spans())
            return spans if len(spans) >= count and all(span.end for span in spans) else None

        return self._poll(f"{count} selected runs ended", ended)

    def _spans(self) -> list[RunSpan]:
        """Every run so far (a run not finished has no end)."""
        spans = []
        for record in self.instance.get_run_records():
            run = record.dagster_run
            spans.append(
                RunSpan(
                    run_id=run.run_id,
                    job=run.job_name,
                    district=run.tags.get("district", ""),
                    provider=run.tags.get("rostering/provider", ""),
                    scheduled=run.tags.get("dagster/schedule_name") == "district_dispatcher",
                    retry_of=run.parent_run_id if run.tags.get("dagster/retry_number") else None,
                    status=run.status.value,
                    created=record.create_timestamp.timestamp(),
                    start=record.start_time or 0.0,
                    end=(record.end_time or 0.0) if run.is_finished else 0.0,
                )
            )
        return spans

    def _sample(self, samples: Samples, stop: threading.Event) -> None:
        names = [sa.make_url(self.app_url).database, self.env["DAGSTER_PG_DB"]]
        count = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(:names)")
        with self._admin.connect() as conn:
            while not stop.wait(SAMPLE_S):
                connections = conn.execute(count, {"names": names}).scalar_one()
                samples.peak_connections = max(samples.peak_connections, connections)
                started = self.instance.get_run_records(
                    dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
                )
                districts = Counter(r.dagster_run.tags.get("district") for r in started)
                providers = Counter(r.dagster_run.tags.get("rostering/provider") for r in started)
                samples.overlapping_districts |= {k for k, n in districts.items() if n > 1}
                samples.peak_per_provider = max(
                    samples.peak_per_provider, max(providers.values(), default=0)
                )

    def _ticks(self, after: float) -> dict[str, list[float]]:
        """Each schedule's and sensor's tick durations (seconds) since `after`."""
        durations: dict[str, list[float]] = {}
        for state in self.instance.all_instigator_state():
            ticks = self.instance.get_ticks(
                state.instigator_origin_id, state.selector_id, after=after
            )
            durations[state.instigator_name] = [
                tick.end_timestamp - tick.timestamp for tick in ticks if tick.end_timestamp
            ]
        return durations


@dataclass(frozen=True)
class FleetResult:
    plan: FleetPlan
    instant: float
    members: list[Member]
    spans: list[RunSpan]
    samples: Samples
    ticks: dict[str, list[float]]
    down: set[str] = field(default_factory=set)  # districts behind a provider stopped
    rejected: set[str] = field(default_factory=set)  # districts with a refused secret

    def runs_by_district(self) -> Counter[str]:
        """Sync runs per district, by whoever launched them."""
        return Counter(span.district for span in self.spans)

    def successes(self) -> Counter[str]:
        return Counter(span.district for span in self.spans if span.status == "SUCCESS")

    def retries(self) -> list[RunSpan]:
        """Runs that Dagster launched again after a failure outside their steps."""
        return [span for span in self.spans if span.retry_of]

    def unscheduled(self) -> list[RunSpan]:
        """Sync runs the dispatcher did not launch."""
        return [span for span in self.spans if not span.scheduled]

    def failed(self) -> list[RunSpan]:
        """Runs that failed for good (not retried), but for the districts the faults doomed."""
        doomed = self.down | self.rejected
        return [span for span in self._failed_for_good() if span.district not in doomed]

    def doomed_failed(self) -> Counter[str]:
        """Runs that failed for good of the districts the faults doomed, by district."""
        doomed = self.down | self.rejected
        return Counter(s.district for s in self._failed_for_good() if s.district in doomed)

    def launched_after_refusal(self) -> list[RunSpan]:
        """Runs of a refused district created once its first refusal had ended: later ticks
        must skip it until fixed. (Ticks before that may have queued a run each: a district
        due every minute behind a long queue.)"""
        late = []
        for key in self.rejected:
            runs = [span for span in self.spans if span.district == key]
            refused = min((span.end for span in runs if span.status == "FAILURE"), default=None)
            late += [span for span in runs if refused is not None and span.created > refused]
        return late

    def _failed_for_good(self) -> list[RunSpan]:
        retried = {span.retry_of for span in self.retries()}
        return [s for s in self.spans if s.status != "SUCCESS" and s.run_id not in retried]

    def peak_per_provider(self) -> int:
        """The most runs of one provider client in progress at once, from the runs' spans."""
        by_provider = itertools.groupby(
            sorted(self.spans, key=lambda span: span.provider), key=lambda span: span.provider
        )
        return max((_most_at_once(group) for _, group in by_provider), default=0)

    def peak_in_progress(self) -> int:
        """The most runs in progress at once, from the runs' spans."""
        return _most_at_once(self.spans)

    def districts_overlapping(self) -> list[str]:
        """Districts with two runs whose spans overlap."""
        overlapping = []
        for district, group in itertools.groupby(
            sorted(self.spans, key=lambda span: (span.district, span.start)),
            key=lambda span: span.district,
        ):
            runs = list(group)
            if any(later.start < earlier.end for earlier, later in itertools.pairwise(runs)):
                overlapping.append(district)
        return overlapping

    @property
    def makespan(self) -> float:
        return max(span.end for span in self.spans) - self.instant


def _most_at_once(spans: Iterable[RunSpan]) -> int:
    events = sorted(
        itertools.chain.from_iterable(((s.start, 1), (s.end, -1)) for s in spans),
        key=lambda event: (event[0], event[1]),  # an end before a start at one instant
    )
    return max(itertools.accumulate(delta for _, delta in events), default=0)


def fleet_sum(result: FleetResult, solo: list[Solo], measure: Callable[[Solo], float]) -> float:
    """A solo figure summed over the fleet: the least-squares line through the calibration runs,
    by students (one run each: a line through all of them evens out one slow run)."""
    slope, intercept = np.polyfit([s.students for s in solo], [measure(s) for s in solo], 1)
    return sum(intercept + slope * member.students for member in result.members)


def render(result: FleetResult, solo: list[Solo], held: list[float], cores: int, stamp: str) -> str:
    plan = result.plan
    by_core = fleet_sum(result, solo, lambda s: s.seconds) / cores
    by_cpu = fleet_sum(result, solo, lambda s: s.core_seconds) / cores
    runs = result.runs_by_district()
    exactly_once = sum(1 for m in result.members if runs[m.key] == 1)
    exactly_once -= len({span.district for span in result.unscheduled()})
    students = sum(m.students for m in result.members)
    tick_rows = [
        f"| `{name}` tick, longest / median s | {max(d):.2f} / {statistics.median(d):.2f} |"
        for name, d in sorted(result.ticks.items())
        if d
    ]
    calibration = ", ".join(
        f"{s.students:,} students {s.seconds:.1f} s keeping {s.cores:.2f} cores busy" for s in solo
    )
    busy = result.samples.busy_core_seconds / (result.makespan * cores)
    limit = plan.max_concurrent_runs
    settings = f" (but at most {limit} runs at once: `--max-concurrent-runs`)" if limit else ""
    lines = [
        "## Fleet through the daemon",
        "",
        f"Written by `python -m benchmarks.fleet` at commit **{stamp}**. {plan.districts} "
        f"districts ({students:,} students, {plan.students[0]:,} to {plan.students[1]:,} each) "
        f"behind {plan.providers} local providers (`dev-provider fleet`) with {plan.clients} "
        f"client ids each, in four time zones, all due at one instant (their schedules at its "
        f"wall time in each zone, standing in for 02:00 local); the repo's dagster.yaml"
        f"{settings} on PostgreSQL with the real `dagster-daemon` (dispatcher every minute, "
        f"runs launched as processes of their own). Ideal: the solo first syncs of "
        f"{len(solo)} calibration districts, launch to end ({calibration}: the run's worker, "
        f"the provider and PostgreSQL together), the least-squares line through them summed "
        f"over the fleet and divided by the runs the {cores} cores allow at once (the limits "
        f"allow more): {cores} if a run kept one core busy; by the cores a solo run does keep "
        f"busy, its CPU time summed over the fleet and divided by {cores}.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| makespan (due instant → last run's end) | {result.makespan:.0f} s |",
        f"| ideal, one core per run / by the cores a solo run keeps busy | {by_core:.0f} s / "
        f"{by_cpu:.0f} s |",
        f"| makespan ÷ ideal, one core per run | {_against(result.makespan, by_core)} |",
        f"| makespan ÷ ideal, by the cores a solo run keeps busy | "
        f"{_against(result.makespan, by_cpu)} |",
        f"| the machine's cores busy, due instant → last run's end | {busy:.0%} |",
        f"| districts per hour | {plan.districts / result.makespan * 3600:,.0f} |",
        f"| districts that ran exactly once (scheduled) | {exactly_once} of {plan.districts} |",
        f"| runs failed | {len(result.failed())} |",
        f"| districts with two runs at once | {len(result.districts_overlapping())} |",
        f"| most runs of one provider client at once (limit {PROVIDER_LIMIT}) | "
        f"{result.peak_per_provider()} |",
        f"| most runs in progress at once | {result.peak_in_progress()} |",
        f"| peak PostgreSQL connections (app and instance databases) | "
        f"{result.samples.peak_connections} |",
        *tick_rows,
        f"| `district_dispatcher` tick creating the fleet's runs with the run queue held (no run "
        f"sharing the cores), longest s | {max(held):.2f} |",
        "",
        *render_cpu(result, solo),
    ]
    return "\n".join(lines) + "\n"


def render_cpu(result: FleetResult, solo: list[Solo]) -> list[str]:
    """Where a run's CPU time goes, alone and in the fleet: each kind of process's core-seconds
    per run, and a run worker's whole life."""
    runs = len(result.spans)
    alone = {kind: statistics.mean(s.by_kind[kind] for s in solo) for kind in KIND_NAMES}
    fleet = {kind: result.samples.by_kind[kind] / runs for kind in KIND_NAMES}
    alone[UNCHARGED] = statistics.mean(s.core_seconds - sum(s.by_kind.values()) for s in solo)
    fleet[UNCHARGED] = (
        result.samples.busy_core_seconds - sum(result.samples.by_kind.values())
    ) / runs
    rows = [f"| {kind} | {alone[kind]:.2f} | {fleet[kind]:.2f} |" for kind in alone]
    solo_workers = [life for s in solo for life in s.workers]
    worker_rows = [
        f"| a run worker's whole life: CPU s (mean) | {_mean(solo_workers, 'cpu_s', '.2f')} | "
        f"{_mean(result.samples.workers, 'cpu_s', '.2f')} |",
        f"| a run worker's whole life: times preempted (involuntary context switches, mean) | "
        f"{_mean(solo_workers, 'preempted', ',.0f')} | "
        f"{_mean(result.samples.workers, 'preempted', ',.0f')} |",
    ]
    machine_alone = statistics.mean(s.core_seconds for s in solo)
    return [
        "Where a run's CPU time goes (`benchmarks/process_cpu.py`: every process's CPU time "
        "sampled by its kind, told from its command line): core-seconds per run, alone (the "
        "calibration runs, launch to end, mean) and in the fleet (due instant to the last "
        "run's end, divided by the runs); a run worker over its whole life, from its spawn by "
        "the code server to its exit.",
        "",
        "| core-seconds per run | alone | in the fleet |",
        "|---|---:|---:|",
        *rows,
        f"| **the machine** | **{machine_alone:.2f}** | "
        f"**{result.samples.busy_core_seconds / runs:.2f}** |",
        *worker_rows,
    ]


def _mean(lives: list[WorkerLife], attribute: str, spec: str) -> str:
    values = [getattr(life, attribute) for life in lives]
    return format(statistics.mean(values), spec) if values else "—"


def _against(makespan: float, ideal: float) -> str:
    verdict = "met" if makespan <= MAKESPAN_TARGET * ideal else "missed"
    return f"{makespan / ideal:.2f}x ({verdict}: within {MAKESPAN_TARGET}x)"


@contextmanager
def _running(argv: list, env: dict[str, str], log: Path | None, cwd: Path | None = None):
    """A long-lived process (output to `log`, or piped when None); stopped on the way out."""
    sink = log.open("wb") if log else subprocess.PIPE
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, text=log is None
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            sink.close()


def _next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def render_faults(
    result: FleetResult, after_fix: list[RunSpan], engine: sa.Engine, stamp: str
) -> str:
    """The faulted fleet's outcome: what each fault did to the districts it hit, and that the
    others ran exactly once."""
    runs, plan = result.runs_by_district(), result.plan
    down, (rejected,) = sorted(result.down), result.rejected
    failed_once = result.doomed_failed()
    alerted = sum(1 for key in down if set(open_alerts(engine, key)) == {"failed"})
    healthy = [m.key for m in result.members if m.key not in {*down, rejected}]
    once = sum(1 for key in healthy if result.successes()[key] == 1)
    retried = {span.district for span in result.retries()}
    fixed = [span.status for span in sorted(after_fix, key=lambda span: span.start)]
    after = fixed[runs[rejected]] if len(fixed) > runs[rejected] else "none"
    lines = [
        "## Fleet through the daemon, with faults",
        "",
        f"Written by `python -m benchmarks.fleet --faults` at commit **{stamp}**. The same "
        f"fleet of {plan.districts} districts (no calibration), with faults: provider "
        f"{plan.providers_down} of {plan.providers} stopped before the fleet is due, one "
        f"district's secret refused by its provider (due every minute until fixed), and the "
        f"daemon killed outright {plan.kill_daemon_after_s:.0f} s after the due instant and "
        f"started again.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| makespan (due instant → last run's end) | {result.makespan:.0f} s |",
        f"| districts behind the stopped provider: failed once (not retried), one open alert "
        f"each | {sum(1 for key in down if failed_once[key] == 1)} of {len(down)}, "
        f"{alerted} of {len(down)} |",
        f"| the refused district (due every minute): runs queued before its first refusal "
        f"ended; runs launched after it until its secret was fixed; the run after the fix | "
        f"{runs[rejected]}; {len(result.launched_after_refusal())}; {after} |",
        f"| the other districts: succeeded exactly once | {once} of {len(healthy)} |",
        f"| runs left starting by the killed daemon, retried once | {len(retried)} |",
        f"| runs failed, but for the faults' districts | {len(result.failed())} |",
        f"| districts with two runs at once | {len(result.districts_overlapping())} |",
    ]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--districts", default=200, show_default=True)
@click.option(
    "--faults/--no-faults",
    default=False,
    help="a provider down, a secret refused, the daemon killed mid-fleet (no calibration)",
)
@click.option(
    "--max-concurrent-runs",
    type=int,
    default=None,
    help="the run queue's limit in all, instead of dagster.yaml's (16)",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(districts: int, faults: bool, max_concurrent_runs: int | None, out: Path | None) -> None:
    from benchmarks.machine import commit_stamp
    from benchmarks.sections import write_section

    plan = FleetPlan(districts=districts, max_concurrent_runs=max_concurrent_runs)
    if faults:
        plan = replace(plan, providers_down=1, rejected=1, kill_daemon_after_s=FAULT_KILL_S)
    with (
        tempfile.TemporaryDirectory(prefix="rostering-fleet-") as folder,
        Fleet(plan, Path(folder)) as fleet,
    ):
        click.echo(f"providers up: {len(fleet.tenants)} tenants; onboarding")
        fleet.onboard(calibration=0 if faults else CALIBRATION_RUNS)
        held = [] if faults else fleet.tick_held()
        click.echo(f"the dispatcher's ticks with the queue held: {held}")
        solo = [] if faults else fleet.calibrate()
        click.echo(f"solo runs: {solo}; the fleet is due at the next minute")
        result = fleet.run()
        if faults:
            after_fix = fleet.fix_credentials(result.rejected)
            text = render_faults(result, after_fix, fleet.engine, commit_stamp())
    if not faults:
        text = render(result, solo, held, os.cpu_count() or 1, commit_stamp())
    if out:
        write_section(out, text)
    click.echo(text)


if __name__ == "__main__":
    main()
