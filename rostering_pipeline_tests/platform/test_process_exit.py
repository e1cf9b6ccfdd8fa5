"""A process that loaded the code location skips the interpreter's final garbage collections
(run workers pay them after their run has ended), and still exits as it meant to: its exit code
kept, its logs flushed."""

import subprocess
import sys
import textwrap

# A cycle whose finalizer says so when the final collections free it (and no earlier
# collection, which could free it before the exit).
CYCLE = """
import gc
gc.disable()
class Cycle:
    def __del__(self):
        print("collected", flush=True)
cycle = Cycle()
cycle.self = cycle
del cycle
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_a_process_that_loaded_the_code_location_ends_without_the_final_collections():
    plain = _run(CYCLE)
    assert plain.stdout.strip() == "collected"  # Python's own exit walks the heap
    loaded = _run("import rostering_pipeline.definitions\n" + CYCLE)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == ""


def test_its_exit_code_and_logs_survive(tmp_path):
    log = tmp_path / "run.log"
    ended = _run(
        f"""
        import logging, sys
        import rostering_pipeline.definitions
        logging.basicConfig(filename={str(log)!r}, level=logging.INFO)
        logging.getLogger("run").info("the run's last words")
        sys.exit(3)
        """
    )
    assert ended.returncode == 3, ended.stderr
    assert "the run's last words" in log.read_text()
