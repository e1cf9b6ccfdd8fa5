"""One district size: the project's four syncs and, beside them, the floor, dlt and naive runs.

Order, against one provider process per size (restarted on the same port for each new day):
day 0: project first sync, the cost of encrypting its snapshots (beside plaintext), project
no-change re-sync (in-process, then through the CLI), floor twice, dlt twice, naive first load;
day 1: project "next day" full sync, floor, naive per-row next day;
day 2: project delta sync (the day's changes only);
then the same district served as OneRoster 1.2 (its own provider process): project first sync;
then the same district written as a OneRoster 1.1 CSV zip and loaded into a CSV district.
The project always goes first on a day, so whatever the provider caches favours the baselines.

The largest district (`run_largest`, 1,000,000 students) is served from a spilled provider
(`dev-provider --spill`) and takes the project's first sync and the floor's only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.child import run_child
from benchmarks.provider_process import ProviderProcess
from benchmarks.workspace import Workspace

FIRST = "first sync"
NO_CHANGE = "no-change re-sync"
NEXT_DAY = "next-day sync"
DELTA = "delta sync (day 2)"
SCENARIOS = (FIRST, NO_CHANGE, NEXT_DAY, DELTA)
BASELINES = ("floor", "dlt", "naive")
WHOLE_PULL_FLOOR = "floor, whole pull"  # the earlier floor: a collection held, then COPYed
# The CLI sync is timed as the median of 5 rounds where a round takes seconds, once above.
CLI_ROUNDS, CLI_ROUNDS_UP_TO = 5, 20_000


@dataclass
class SizeResult:
    students: int
    project: dict[str, dict] = field(default_factory=dict)  # scenario -> e2e figures
    baselines: dict[str, dict[str, dict]] = field(default_factory=dict)  # scenario -> name -> fig
    provider_peak_mb: float = 0.0
    cli_no_change: dict | None = None  # `rostering-pipeline sync`: launched through the instance
    encryption: dict | None = None  # the first sync's snapshots written and read, encrypted or not
    first_sync_1_2: dict | None = None  # the same district served and synced as OneRoster 1.2
    csv_write: dict | None = None  # the same district (day 0) written as a CSV zip
    csv_first_sync: dict | None = None  # that zip loaded into a CSV district

    def baseline(self, scenario: str, name: str) -> dict | None:
        return self.baselines.get(scenario, {}).get(name)


def run_size(ws: Workspace, students: int, *, peers: bool, naive_max_rows: int, log) -> SizeResult:
    result = SizeResult(students)
    key = f"bench-{students}"
    schemas = {name: f"{name}_{students}" for name in BASELINES}

    def project(scenario: str, mode: str) -> None:
        log(f"{students:,} students: project {scenario}")
        result.project[scenario] = run_child("benchmarks.e2e", key, "--mode", mode)

    def baseline(scenario: str, name: str, module: str, *args: str) -> None:
        log(f"{students:,} students: {name} {scenario}")
        figures = run_child(module, *args)
        result.baselines.setdefault(scenario, {})[name] = figures

    with ProviderProcess(students) as provider:
        where = (provider.api_url, provider.token_url)
        floor_args = (*where, ws.libpq_url, schemas["floor"])
        naive_args = (*where, ws.url_text, schemas["naive"])
        ws.register(key, provider.base_url, provider.token_url)
        project(FIRST, "full")
        log(f"{students:,} students: snapshot encryption beside plaintext")
        result.encryption = run_child("benchmarks.encryption_cost", key)
        project(NO_CHANGE, "full")
        log(f"{students:,} students: project {NO_CHANGE} through the CLI")
        rounds = str(CLI_ROUNDS if students <= CLI_ROUNDS_UP_TO else 1)
        result.cli_no_change = run_child("benchmarks.cli_sync", key, "--rounds", rounds)
        if peers:
            for name in BASELINES:
                ws.reset_schema(schemas[name])
            dlt_args = (*where, ws.libpq_url, schemas["dlt"], str(ws.data_dir / f"dlt_{students}"))
            for scenario in (FIRST, NO_CHANGE):
                baseline(scenario, "floor", "benchmarks.floor", *floor_args)
                baseline(scenario, "dlt", "benchmarks.peer_dlt", *dlt_args)
            whole = (*floor_args, "--whole-pull")
            baseline(FIRST, WHOLE_PULL_FLOOR, "benchmarks.floor", *whole)
            baseline(FIRST, "naive", "benchmarks.naive", "first", *naive_args)
        provider.restart(day=1)
        project(NEXT_DAY, "full")
        if peers:
            baseline(NEXT_DAY, "floor", "benchmarks.floor", *floor_args)
            limit = ("--max-rows", str(naive_max_rows))
            baseline(NEXT_DAY, "naive", "benchmarks.naive", "next-day", *naive_args, *limit)
        provider.restart(day=2)
        project(DELTA, "delta")
        result.provider_peak_mb = provider.current_peak_mb
    with ProviderProcess(students, version="1.2") as provider:
        ws.register(f"{key}-v1p2", provider.base_url, provider.token_url, version="1.2")
        log(f"{students:,} students: project {FIRST}, OneRoster 1.2")
        result.first_sync_1_2 = run_child("benchmarks.e2e", f"{key}-v1p2", "--mode", "full")
    package = ws.data_dir / f"{key}.zip"
    log(f"{students:,} students: CSV package written")
    result.csv_write = run_child("benchmarks.csv_write", str(students), str(package))
    ws.register_csv(f"{key}-csv")
    log(f"{students:,} students: project {FIRST}, CSV package")
    result.csv_first_sync = run_child(
        "benchmarks.e2e", f"{key}-csv", "--mode", "full", "--package", str(package)
    )
    return result


def run_largest(ws: Workspace, students: int, *, log) -> SizeResult:
    """The largest district: the project's first sync beside the (streaming) floor's, from a
    provider that keeps the district in files."""
    result = SizeResult(students)
    key = f"bench-{students}"
    with ProviderProcess(students, spill=True) as provider:
        ws.register(key, provider.base_url, provider.token_url)
        log(f"{students:,} students: project {FIRST}")
        result.project[FIRST] = run_child("benchmarks.e2e", key, "--mode", "full")
        schema = f"floor_{students}"
        ws.reset_schema(schema)
        log(f"{students:,} students: floor {FIRST}")
        floor_args = (provider.api_url, provider.token_url, ws.libpq_url, schema)
        result.baselines[FIRST] = {"floor": run_child("benchmarks.floor", *floor_args)}
        result.provider_peak_mb = provider.current_peak_mb
    return result
