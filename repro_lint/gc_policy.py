"""How often the cyclic garbage collector runs in repro-lint's own processes."""

from __future__ import annotations

import gc


def collect_rarely() -> None:
    """Run the cyclic garbage collector a hundred times less often than Python's default.

    A libcst tree holds no reference cycles, so reference counting frees it; but its
    millions of nodes make every collection pass slow, and the default thresholds
    ran one every 700 allocations: a fifth of the parse time. Objects alive now
    (modules, the rules, the forked parent's data) are frozen out of the passes.
    """
    gc.freeze()
    gc.set_threshold(70_000, 20, 20)
