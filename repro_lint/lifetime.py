"""Child processes never outlive the repro-lint process that started them.

Linux delivers a signal to a process whose parent dies when it asked for one
with `prctl(PR_SET_PDEATHSIG)`; this holds for SIGKILL of the parent too, which
no handler in the parent can catch. Elsewhere a daemon thread polls the parent
pid: a child whose parent is gone is re-parented, so its parent pid changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PARENT_PID_VARIABLE = "REPRO_LINT_PARENT_PID"  # set for verifier children: the pid they must not outlive
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_POLL_SECONDS = 0.5


def die_with_parent() -> None:
    """Make this (forked) process end when its parent process ends."""
    parent = os.getppid()
    if set_parent_death_signal():
        # The parent may have died before the request: then it is never delivered.
        if os.getppid() != parent:
            os._exit(1)
        return
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def end_group_with_parent() -> None:
    """In a verifier child, the leader of its own process group: when the verifier ends, kill the whole group.

    The group holds what the child started (DataLoader workers, compilers); a
    parent-death signal would end the child alone and leave those running.
    """
    parent = int(os.environ.get(PARENT_PID_VARIABLE, os.getppid()))
    threading.Thread(target=_end_group_when_orphaned, args=(parent,), daemon=True).start()


def _end_group_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_SECONDS)
    os.killpg(0, signal.SIGKILL)


def set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends. False elsewhere."""
    return _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def become_subreaper() -> bool:
    """Ask Linux to re-parent to this process the orphans of its descendants (a double-forked
    daemon among them) instead of to init, so that `descendants` still finds them. False elsewhere."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, from /proc (empty where there is none)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # `pid (name) state ppid ...`; the name may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_SECONDS)
    os._exit(1)
