"""The simulated server in its own process: what a notebook compares systems against.

In its own process the server gets its own interpreter (and core): run in the notebook's
kernel, it would share one thread with the client it serves and measure their sum.
"""

from __future__ import annotations

import subprocess
import sys
import time
from types import TracebackType
from typing import Any

from .server import free_port

START_TIMEOUT = 30.0


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Ask ``proc`` to end (SIGTERM), kill it if it has not within ``timeout`` seconds, and
    reap it."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


class SimServerProcess:
    """``with SimServerProcess(time_scale=0.5) as base_url:`` serves the simulated world on a free
    loopback port (``python -m gepa_lab.sim serve``) until the block ends.

    ``args`` are more ``serve`` options (``["--rpm", "600"]``); ``port`` fixes the port (a
    server started again on it is the same endpoint to its clients).
    """

    def __init__(
        self, time_scale: float = 1.0, args: list[str] | None = None, port: int = 0
    ) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale={time_scale!r} is invalid: must be > 0")
        self.time_scale = time_scale
        self.args = list(args or [])
        self.port = port
        self._proc: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> str:
        self.port = self.port or free_port()
        cmd = [
            sys.executable,
            "-m",
            "gepa_lab.sim",
            "serve",
            "--port",
            str(self.port),
            "--time-scale",
            str(self.time_scale),
            *self.args,
        ]
        self._proc = proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + START_TIMEOUT
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "simulated world" in line:
                return self.base_url
            if not line and proc.poll() is not None:
                break
        self.__exit__(None, None, None)
        raise RuntimeError(
            f"the simulated server did not start within {START_TIMEOUT:g} s: {' '.join(cmd)}"
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(kill=False)

    def stop(self, kill: bool = False) -> None:
        """End the server; ``kill``: at once (SIGKILL), the way an endpoint dies."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
            proc.wait(timeout=10.0)
        else:
            stop_process(proc, timeout=5.0)
        if proc.stdout is not None:
            proc.stdout.close()
