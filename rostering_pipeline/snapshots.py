"""Parquet snapshots of each run's pull: `<root>/<district>/<run id>/<entity>.parquet`.

The root is a local folder or any URI pyarrow's filesystems understand (s3://, gs://, ...), so
the same code serves one machine and a scaled-out deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq

KEEP_RUNS = 7


@dataclass(frozen=True)
class SnapshotStore:
    root: str  # folder or object-store URI

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        if "://" in self.root:
            return pafs.FileSystem.from_uri(self.root)
        return pafs.LocalFileSystem(), self.root

    def location(self, district: str, run_id: str, entity: str) -> str:
        return f"{self.root.rstrip('/')}/{district}/{run_id}/{entity}.parquet"

    def write(self, district: str, run_id: str, entity: str, frame: pd.DataFrame) -> str:
        """Writes the frame, prunes the district's old runs, and returns the snapshot's location."""
        fs, base = self._fs()
        run_dir = f"{base.rstrip('/')}/{district}/{run_id}"
        fs.create_dir(run_dir, recursive=True)
        frame.to_parquet(f"{run_dir}/{entity}.parquet", filesystem=fs, index=False)
        self.prune(district)
        return self.location(district, run_id, entity)

    def read(self, location: str, columns: list[str] | None = None) -> pd.DataFrame:
        fs, path = (
            pafs.FileSystem.from_uri(location)
            if "://" in location
            else (pafs.LocalFileSystem(), location)
        )
        return pq.read_table(path, filesystem=fs, columns=columns).to_pandas()

    def runs(self, district: str) -> list[str]:
        """The district's snapshot run ids, oldest first (by the newest file each holds)."""
        fs, base = self._fs()
        district_dir = f"{base.rstrip('/')}/{district}"
        if fs.get_file_info(district_dir).type == pafs.FileType.NotFound:
            return []
        infos = fs.get_file_info(pafs.FileSelector(district_dir, recursive=True))
        newest: dict[str, int] = {}
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            run_id = info.path[len(district_dir) + 1 :].split("/", 1)[0]
            newest[run_id] = max(newest.get(run_id, 0), info.mtime_ns or 0)
        return sorted(newest, key=lambda run: newest[run])

    def prune(self, district: str, keep: int = KEEP_RUNS) -> None:
        fs, base = self._fs()
        for run_id in self.runs(district)[:-keep]:
            fs.delete_dir(f"{base.rstrip('/')}/{district}/{run_id}")

    def delete_district(self, district: str) -> None:
        fs, base = self._fs()
        district_dir = f"{base.rstrip('/')}/{district}"
        if fs.get_file_info(district_dir).type != pafs.FileType.NotFound:
            fs.delete_dir(district_dir)
