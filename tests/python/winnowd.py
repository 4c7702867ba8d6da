"""A real winnowd for the Python tests: a child process on a free loopback
port with a temp data dir (like tests/system/winnowd_process.h).

The binary is $WINNOWD (set by ctest), else build/server/winnowd.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def winnowd_path() -> str:
    return os.environ.get("WINNOWD") or os.path.join(ROOT, "build", "server", "winnowd")


def _die_with_parent() -> None:
    """In the child: SIGKILL it when the test process dies, so that no
    winnowd outlives a test killed by ctest's timeout."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Winnowd:
    """Starts winnowd; ``address`` is ``127.0.0.1:PORT``. ``restart()`` kills
    it (SIGKILL) and starts it again on the same port and data dir."""

    def __init__(self, extra_args: Optional[List[str]] = None):
        self.dir = tempfile.mkdtemp(prefix="winnow-py-")
        self.data_dir = os.path.join(self.dir, "data")
        self.extra_args = list(extra_args or [])
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self._start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self) -> None:
        log = os.path.join(self.dir, "winnowd.log")
        with open(log, "ab") as f:
            start = f.tell()
            self.proc = subprocess.Popen(
                preexec_fn=_die_with_parent,
                args=[winnowd_path(), "--data-dir", self.data_dir,
                 "--listen", f"127.0.0.1:{self.port}",
                 "--metrics-listen", "127.0.0.1:0"] + self.extra_args,
                stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(log, "rb") as f:
                f.seek(start)
                m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(log, "rb") as f:
            raise RuntimeError("winnowd did not start:\n" + f.read().decode(errors="replace"))

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self) -> None:
        """Stops it gracefully (SIGTERM), keeping its data dir; start()
        starts it again."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def start(self) -> None:
        self._start()

    def restart(self) -> None:
        self.kill()
        self._start()

    def log_tail(self, lines: int = 40) -> str:
        with open(os.path.join(self.dir, "winnowd.log"), "rb") as f:
            return b"".join(f.readlines()[-lines:]).decode(errors="replace")

    def stop(self) -> None:
        if os.environ.get("WINNOWD_SHOW_LOG"):
            sys.stderr.write("--- winnowd log ---\n" + self.log_tail())
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Winnowd":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
