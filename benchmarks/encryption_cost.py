"""What encrypting the snapshots costs: the district's last snapshots (as its first sync wrote
them) written and read back encrypted, as the pipeline does, and as plain Parquet, in turns.

    python -m benchmarks.encryption_cost KEY [--rounds 3]

Prints one JSON line (see benchmarks/child.py): rows, the median seconds of a write plus a read
of all six snapshots each way, and bytes on disk each way.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.child import emit
from rostering_pipeline import config
from rostering_pipeline.appdb.engine import make_engine
from rostering_pipeline.appdb.ledger import latest_verdicts
from rostering_pipeline.districts import get_district
from rostering_pipeline.secrets import SecretBox
from rostering_pipeline.snapshot_keys import snapshot_key
from rostering_pipeline.snapshots import SnapshotStore


def _encrypted_round(store: SnapshotStore, key, frames: dict) -> tuple[float, int]:
    started = time.perf_counter()
    sizes = 0
    for entity, frame in frames.items():
        location = store.write(key, "encryption-cost", entity, frame)
        store.read(location, key)
        sizes += Path(location).stat().st_size
    return time.perf_counter() - started, sizes


def _plaintext_round(folder: Path, frames: dict) -> tuple[float, int]:
    started = time.perf_counter()
    sizes = 0
    folder.mkdir(parents=True, exist_ok=True)
    for entity, frame in frames.items():
        path = folder / f"{entity}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        pq.read_table(path).to_pandas()
        sizes += path.stat().st_size
    return time.perf_counter() - started, sizes


@click.command()
@click.argument("district_key")
@click.option("--rounds", type=int, default=3, show_default=True)
def main(district_key: str, rounds: int) -> None:
    engine = make_engine()
    box = SecretBox.from_env()
    key = snapshot_key(engine, district_key, box)
    with engine.connect() as conn:
        ledger = latest_verdicts(conn, get_district(conn, district_key).id)
    pipeline_store = SnapshotStore(config.snapshot_url())
    frames = {e: pipeline_store.read(entry.snapshot_location, key) for e, entry in ledger.items()}
    scratch = config.data_dir() / "encryption-cost"
    store = SnapshotStore(str(scratch / "encrypted"))
    encrypted, plaintext = [], []
    try:
        for _ in range(rounds):  # in turns, so that the machine's drift touches both alike
            encrypted.append(_encrypted_round(store, key, frames))
            plaintext.append(_plaintext_round(scratch / "plaintext", frames))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    emit(
        {
            "rows": sum(len(frame) for frame in frames.values()),
            "files": len(frames),
            "encrypted_s": statistics.median(seconds for seconds, _ in encrypted),
            "plaintext_s": statistics.median(seconds for seconds, _ in plaintext),
            "encrypted_bytes": encrypted[-1][1],
            "plaintext_bytes": plaintext[-1][1],
        }
    )


if __name__ == "__main__":
    main()
