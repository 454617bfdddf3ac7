"""Run stages one after the other, each within its time limit, and keep the record current.

Every line a stage prints goes at once to the console and to ``log.txt``; ``results.json``
is rewritten (atomically) when a stage starts and when it ends, so a run cut off from
outside still says how far it got and what each finished stage showed.
"""

import datetime
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

TAIL_LINES = 60
"""Lines of each stage's output kept in ``results.json`` (``log.txt`` has them all)."""


class Record:
    """``log.txt`` and ``results.json`` in ``out``; ``say`` prints and logs one line."""

    def __init__(self, out: Path, header: dict):
        out.mkdir(parents=True, exist_ok=True)
        self.log_path, self.json_path = out / "log.txt", out / "results.json"
        self.log = self.log_path.open("a", buffering=1)
        self.results = {"started": _now(), **header, "stages": [], "finished": False}
        self.lock = threading.Lock()

    def say(self, line: str) -> None:
        with self.lock:
            print(line, flush=True)
            self.log.write(line + "\n")

    def save(self) -> None:
        self.results["updated"] = _now()
        partial = self.json_path.with_suffix(".json.tmp")
        partial.write_text(json.dumps(self.results, indent=1))
        os.replace(partial, self.json_path)


def run_stages(stages, env: dict, cwd: Path, deadline: float, record: Record) -> bool:
    """Run ``stages`` in order (a failure does not stop the others); True when all passed.
    Each stage gets its own limit, clipped to the seconds left before ``deadline``
    (``time.monotonic()``); a stage with fewer than 5 s left is not started."""
    all_passed = True
    for stage in stages:
        entry = {"name": stage.name, "command": stage.command(), "timeout_s": stage.timeout_s}
        record.results["stages"].append(entry)
        left = deadline - time.monotonic()
        if stage.skip or left < 5:
            entry["status"] = "skipped"
            entry["note"] = stage.skip or "no time left in the run's budget"
            record.say(f"\n=== {stage.name}: skipped ({entry['note']})")
            record.save()
            continue
        limit = min(stage.timeout_s, left)
        record.say(f"\n=== {stage.name} (limit {limit:.0f} s): {entry['command']}")
        entry["status"] = "running"
        record.save()
        rc, seconds, lines, timed_out = _run(stage.argv, {**env, **stage.env}, cwd, limit,
                                             record.say)
        passed = rc == 0 and re.search(stage.expect, "\n".join(lines)) is not None
        entry.update(rc=rc, seconds=round(seconds, 1), tail=lines[-TAIL_LINES:],
                     status="passed" if passed else "timed out" if timed_out else "failed")
        if not passed and not timed_out and rc == 0:
            entry["note"] = f"exit 0 but the output lacks {stage.expect!r}"
        all_passed &= passed
        record.say(f"=== {stage.name}: {entry['status']} (exit {rc}, {seconds:.1f} s)")
        record.save()
    return all_passed


def _run(argv, env, cwd, limit, say):
    """Run ``argv`` in a process group of its own; stream its lines; kill the group at
    ``limit`` seconds. Returns ``(exit code, seconds, lines, timed out)``."""
    start = time.monotonic()
    lines = []
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace",
                               start_new_session=True)

    def pump():
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            say("  " + lines[-1])

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        say(f"  (killed after {limit:.0f} s)")
    reader.join(timeout=5)
    return process.returncode, time.monotonic() - start, lines, timed_out


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")
