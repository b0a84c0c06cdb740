"""Running a verifier child process: its own process group, a timeout, captured output.

Every child runs in a new session so that a timeout or a Ctrl-C can kill the
child together with whatever it started (DataLoader workers, compilers): killing
the one pid would leave its children running. A child ends its group itself when
this process dies without the chance to (`repro_lint.lifetime.end_group_with_parent`).

The timeout counts from the moment the child says it is ready (it creates the
`ready` file once torch is imported), not from its start: importing torch and
initialising CUDA can take longer than the work being timed. Startup has its own,
generous limit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from repro_lint.lifetime import PARENT_PID_VARIABLE, become_subreaper, descendants

OUTPUT_TAIL_LINES = 40
OUTPUT_KEPT_BYTES = 1 << 20  # of a child's output, from the end
STARTUP_LIMIT = 300.0
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ChildResult:
    returncode: int | None  # None when it was killed
    timeout: str | None  # why it was killed: 'timed out after 5 s', or None
    output: str  # stdout and stderr interleaved
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.timeout is not None

    @property
    def failed(self) -> bool:
        return self.timed_out or self.returncode != 0

    def describe_failure(self) -> str:
        if self.timeout is not None:
            return self.timeout
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
    ready: Path,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    while_running: Callable[[float], None] | None = None,
) -> ChildResult:
    """Run `command`; kill its whole process group `timeout` seconds after `ready` appears, or on Ctrl-C.

    `while_running` is called about 20 times a second, once the child is ready, with the seconds since.
    """
    become_subreaper()
    already_running = set(descendants(os.getpid()))
    # A file, not a pipe: a chatty child cannot fill a pipe buffer and block.
    with tempfile.TemporaryFile(mode="w+b") as output:
        started = time.monotonic()
        child = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**(os.environ if env is None else env), PARENT_PID_VARIABLE: str(os.getpid())},
            cwd=cwd,
            start_new_session=True,
        )
        reason = None
        try:
            reason = _wait(child, started, timeout, ready, while_running)
        finally:
            # Also after a normal exit: what the child started must not outlive the run,
            # including what left its process group (a new session, a double-forked daemon).
            tree = descendants(child.pid)
            _kill_group(child.pid)
            _kill(tree)
            child.wait()
            # Orphans of the child's tree were re-parented to this process, the subreaper.
            _kill([pid for pid in descendants(os.getpid()) if pid not in already_running], reap=True)
        seconds = time.monotonic() - started
        # Only the end is ever shown: a script that printed gigabytes is not read back whole.
        size = output.seek(0, os.SEEK_END)
        output.seek(max(0, size - OUTPUT_KEPT_BYTES))
        text = output.read().decode("utf-8", errors="replace")
    return ChildResult(None if reason else child.returncode, reason, text, seconds)


def _wait(child: subprocess.Popen, started: float, timeout: float, ready: Path,
          while_running: Callable[[float], None] | None) -> str | None:
    """None when the child exits in time, else why it is to be killed."""
    ready_at: float | None = None
    while True:
        try:
            child.wait(timeout=_POLL_SECONDS)
            return None
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if ready_at is None and ready.exists():
            ready_at = now
        if ready_at is not None and now - ready_at >= timeout:
            return f"timed out after {timeout:g} s"
        if ready_at is not None and while_running is not None:
            while_running(now - ready_at)
        if ready_at is None and now - started >= STARTUP_LIMIT:
            return f"did not start within {STARTUP_LIMIT:g} s"


def _kill(pids: Sequence[int], reap: bool = False) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
        if reap:
            try:
                os.waitpid(pid, 0)  # our own child now, as the subreaper: leave no zombie
            except ChildProcessError:
                pass


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
