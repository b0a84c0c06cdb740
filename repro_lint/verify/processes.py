"""Running a verifier child process: its own process group, a timeout, captured output.

Every child runs in a new session so that a timeout or a Ctrl-C can kill the
child together with whatever it started (DataLoader workers, compilers): killing
the one pid would leave its children running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

OUTPUT_TAIL_LINES = 40


@dataclass(frozen=True)
class ChildResult:
    returncode: int | None  # None when it was killed on timeout
    timed_out: bool
    output: str  # stdout and stderr interleaved
    seconds: float

    @property
    def failed(self) -> bool:
        return self.timed_out or self.returncode != 0

    def describe_failure(self, timeout: float) -> str:
        if self.timed_out:
            return f"timed out after {timeout:g} s"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"crashed ({name})"
        return f"exited with code {self.returncode}"

    def output_tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        kept = self.output.rstrip("\n").splitlines()[-lines:]
        return "\n".join(kept)


def python_module_command(module: str, *args: str) -> list[str]:
    """The command that runs one of the verifier's modules with this interpreter."""
    return [sys.executable, "-m", module, *args]


def run_child(
    command: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> ChildResult:
    """Run `command`, kill its whole process group when `timeout` passes or on Ctrl-C."""
    # A file, not a pipe: a chatty child cannot fill a pipe buffer and block.
    with tempfile.TemporaryFile(mode="w+b") as output:
        started = time.monotonic()
        child = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
        timed_out = False
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Also after a normal exit: what the child started must not outlive the run.
            _kill_group(child.pid)
            child.wait()
        seconds = time.monotonic() - started
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    return ChildResult(None if timed_out else child.returncode, timed_out, text, seconds)


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
