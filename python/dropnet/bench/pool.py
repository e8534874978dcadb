"""Parent side of the worker processes: one per (framework, thread count),
started together so their imports overlap before anything is timed, each running the jobs
sent to it one at a time (see worker.py for the protocol)."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
from typing import IO, Any

from .common import child_env

READY_TIMEOUT = 600.0  # seconds a worker may take to import its framework
JOB_TIMEOUT = 3 * 3600.0  # seconds a job may run before its worker is killed


class Worker:
    """One worker process; ``request`` sends a job and waits for its result line."""

    def __init__(self, framework: str, threads: int) -> None:
        self.framework, self.threads = framework, threads
        # Closed in close(); the worker's stderr goes here so failures can quote its tail.
        self._log: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", encoding="utf-8", errors="replace"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dropnet.bench.worker", framework, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_env(threads),
            text=True,
            encoding="utf-8",
        )
        self.ready: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - chars * 4))
        return self._log.read()[-chars:]

    def _read_line(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def wait_ready(self) -> dict[str, Any]:
        if self.ready is None:
            msg = self._read_line(READY_TIMEOUT)
            if msg is None:
                self.close(kill=True)
                msg = {
                    "status": "error",
                    "error": f"{self.framework} worker did not start\n" + self.stderr_tail(),
                }
            self.ready = msg
        return self.ready

    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, spec: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(spec) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            return {"status": "error", "error": f"worker gone ({exc})\n" + self.stderr_tail()}
        result = self._read_line(JOB_TIMEOUT)
        if result is None:
            code = self.proc.poll()
            self.close(kill=True)
            why = "timed out" if code is None else f"exited with code {code}"
            return {
                "status": "error",
                "error": f"worker {why} without a result\n" + self.stderr_tail(),
            }
        return result

    def close(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                try:
                    assert self.proc.stdin is not None
                    self.proc.stdin.close()
                    self.proc.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    self.proc.kill()
        self.proc.wait()
        self._log.close()


class WorkerPool:
    """Workers by (framework, threads). With ``fresh`` every job gets a new process that
    exits after it (slower, but no state survives between jobs)."""

    def __init__(self, fresh: bool = False) -> None:
        self.fresh = fresh
        self._workers: dict[tuple[str, int], Worker] = {}

    def start(self, wanted: list[tuple[str, int]]) -> dict[str, str]:
        """Start the workers for these (framework, threads) at once and wait until all have
        imported their framework. Returns {framework: reason} for the unusable ones."""
        if self.fresh:
            return {}
        started = [Worker(*key) for key in dict.fromkeys(wanted) if key not in self._workers]
        self._workers.update({(w.framework, w.threads): w for w in started})
        failed: dict[str, str] = {}
        for worker in started:
            ready = worker.wait_ready()
            if ready["status"] != "ready":
                failed[worker.framework] = ready.get("error", "did not start")
        return failed

    def run(self, spec: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Run one job; returns its result and the pid that ran it."""
        key = spec["framework"], int(spec["threads"])
        worker = self._workers.get(key)
        if worker is None or not worker.alive():
            worker = Worker(*key)
            if not self.fresh:
                self._workers[key] = worker
        ready = worker.wait_ready()
        result = dict(ready) if ready["status"] != "ready" else worker.request(spec)
        if result.get("status") == "error":
            result["stderr_tail"] = worker.stderr_tail()
        pid = worker.pid
        if self.fresh:
            worker.close()
        return result, pid

    def pids(self) -> list[int]:
        """Process ids of the live workers (the harness's own CPU use, for the load meter)."""
        return [w.pid for w in self._workers.values() if w.alive()]

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()

    def __enter__(self) -> WorkerPool:  # noqa: PYI034 - final class
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
