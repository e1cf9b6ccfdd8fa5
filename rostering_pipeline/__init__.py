"""Keeps an application database in step with school districts' OneRoster 1.1 rosters."""

import os

# Arrow's allocator (mimalloc) keeps pages it freed for later; returned at once instead, a sync's
# resident memory follows what it holds (the enrollments of 200,000 students: a peak of 861 MB
# instead of 1,268 MB, benchmarks/MEMORY.md). Read when pyarrow loads, which is after this:
# nothing of the package imports it before. An operator's own setting wins.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")
