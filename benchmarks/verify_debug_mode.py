"""Compare torch's private DebugMode with verify's own op tracer: what each records, how it hashes, what it costs.

    python benchmarks/verify_debug_mode.py [--steps 20]

Needs torch >= 2.10 (`torch.utils._debug_mode`). Runs in this process, on the CPU; the
numbers in docs/verify.md come from it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from repro_lint.verify.trace_worker import OpTracer, UserFrames, tensor_digest

try:
    from torch.utils._debug_mode import DebugMode, hash_tensor_fn, norm_hash_fn
except ImportError:
    sys.exit(f"torch {torch.__version__} has no torch.utils._debug_mode.DebugMode (torch >= 2.10 has)")


WIDTH, BATCH = 256, 64  # set by --large


def train(steps: int) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(128, WIDTH), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                torch.nn.Linear(WIDTH, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data, target = torch.randn(BATCH, 128), torch.randint(0, 10, (BATCH,))
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(data), target)
        loss.backward()
        optimizer.step()


def timed(label: str, steps: int, make_mode, count) -> None:
    best = float("inf")
    ops = 0
    for _ in range(3):
        mode = make_mode()
        started = time.perf_counter()
        if mode is None:
            train(steps)
        else:
            with mode.context() if hasattr(mode, "context") else mode:
                train(steps)
            ops = count(mode)
        best = min(best, time.perf_counter() - started)
    print(f"  {label:<52} {best:7.3f} s  {ops:6d} ops recorded")


class _DebugHashed:
    """DebugMode with log_tensor_hashes, entered together."""

    def __init__(self, hash_fn: str, stack: bool = False):
        self.mode = DebugMode(record_stack_trace=stack)
        self.hash_fn = hash_fn

    def __enter__(self):
        self._hashes = DebugMode.log_tensor_hashes(hash_fn=self.hash_fn)
        self.mode.__enter__()
        self._hashes.__enter__()
        return self

    def __exit__(self, *exc):
        self._hashes.__exit__(*exc)
        return self.mode.__exit__(*exc)


def cost(steps: int) -> None:
    print(f"cost: {steps} SGD steps of a 128-{WIDTH}-10 MLP, batch {BATCH}, {torch.get_num_threads()} CPU threads "
          "(best of 3)")
    here = Path(__file__).resolve().parent

    def own():
        return OpTracer(UserFrames(here), 100_000)

    def own_flushed(mode):
        mode.flush()
        return len(mode.ops)

    timed("untraced", steps, lambda: None, lambda mode: 0)
    timed("own tracer (user line, position-weighted digest)", steps, own, own_flushed)
    timed("DebugMode() (op strings, no hashes)", steps, DebugMode, lambda mode: len(mode.operators))
    timed("DebugMode + log_tensor_hashes('hash_tensor')", steps, lambda: _DebugHashed("hash_tensor"),
          lambda mode: len(mode.mode.operators))
    timed("DebugMode + log_tensor_hashes('norm')", steps, lambda: _DebugHashed("norm"),
          lambda mode: len(mode.mode.operators))
    timed("DebugMode(record_stack_trace=True) + 'hash_tensor'", steps,
          lambda: _DebugHashed("hash_tensor", stack=True), lambda mode: len(mode.mode.operators))


def hashing() -> None:
    print("hashing: does the hash tell these tensors apart?")
    torch.manual_seed(0)
    x = torch.randn(1000)
    cases = {
        "x vs x in another order (x[randperm])": (x, x[torch.randperm(1000)]),
        "[1e20, 1] vs [1e20, 2] (float64)": (torch.tensor([1e20, 1.0], dtype=torch.float64),
                                              torch.tensor([1e20, 2.0], dtype=torch.float64)),
        "[0.0] vs [-0.0]": (torch.tensor([0.0]), torch.tensor([-0.0])),
        "[1, 2] vs [3, 0] (int64)": (torch.tensor([1, 2]), torch.tensor([3, 0])),
    }
    for label, (a, b) in cases.items():
        verdicts = []
        for name, fn in (("hash_tensor", lambda t: hash_tensor_fn(t, use_scalar=True)),
                         ("norm", lambda t: norm_hash_fn(t, use_scalar=True)),
                         ("own digest", lambda t: int(tensor_digest(t)))):
            verdicts.append(f"{name}: {'differ' if fn(a) != fn(b) else 'SAME'}")
        print(f"  {label:<40} " + ", ".join(verdicts))


def records() -> None:
    print("what DebugMode records for `y = (w * x).sum(); y.backward()` (log_tensor_hashes('hash_tensor')):")
    w = torch.ones(3, requires_grad=True)
    x = torch.arange(3.0)
    with DebugMode(record_stack_trace=True) as mode, DebugMode.log_tensor_hashes(hash_fn="hash_tensor"):
        y = (w * x).sum()
        y.backward()
    for line in mode.debug_string(show_stack_trace=False).strip().splitlines():
        print(f"  {line.strip()}")
    backward = [call for call in mode.operators if getattr(call, "fwd_stack_trace", None)]
    if backward:
        last = backward[-1].fwd_stack_trace.strip().splitlines()
        print(f"  a backward op's fwd_stack_trace ends: {last[-2].strip()} / {last[-1].strip()}")

    print("check_hash_mismatches on two runs whose op sequences differ:")
    logs = []
    for extra in (False, True):
        with DebugMode() as mode, DebugMode.log_tensor_hashes(hash_fn="hash_tensor"):
            z = torch.ones(2) * 2
            if extra:
                z = z + 1
        logs.append(mode.logs)
    try:
        DebugMode.check_hash_mismatches(logs[0], logs[1])
    except ValueError as error:
        print(f"  ValueError: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--large", action="store_true", help="a 128-4096-10 MLP, batch 1024: hashing dominates")
    args = parser.parse_args()
    if args.large:
        global WIDTH, BATCH
        WIDTH, BATCH = 4096, 1024
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    print(f"torch {torch.__version__}")
    records()
    hashing()
    cost(args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
