"""Child process of `repro-lint verify --run`: runs the user's script under an op tracer.

Usage: python -m repro_lint.verify.trace_worker SPEC.json

SPEC names the script, its arguments, the thread count, the op cap, whether to
enable `use_deterministic_algorithms(True, warn_only=True)`, where to write
the trace (JSON), the `ready` file to create once torch is imported (the
parent's timeout starts then) and the `progress` file that holds the ops traced so far.
The trace is written even when the script fails, so that the parent can still compare
what ran before the failure.

DataLoader worker processes are traced too: each worker loop runs under its own tracer and
writes the ops of each batch it produces to a file, and the main process notes when it takes
each batch; the trace holds a batch's worker ops where the main process took the batch.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
import runpy
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.utils.data.dataloader
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.data._utils import worker as dataloader_worker

from repro_lint.lifetime import end_group_with_parent

# Ops whose output is uninitialized memory: its bits differ between runs of a
# deterministic program, so hashing them would report a false divergence.
UNINITIALIZED_OUTPUT_OPS = frozenset({
    "aten.empty", "aten.empty_like", "aten.empty_strided", "aten.new_empty",
    "aten.new_empty_strided", "aten.empty_permuted", "aten.resize_",
})
# Receiving a tensor from another process (a DataLoader worker's batch) rebuilds it here. When
# that happens depends on which worker finished first, and the storage it points at may still be
# written, so these ops are not the run's computation; the ops that read the batch are.
_RECEIVING_MODULE = os.path.join("torch", "multiprocessing", "reductions.py")
# Ops that carry no data (profiler ranges): not part of what a run computes.
NO_DATA_NAMESPACES = ("profiler.",)
# Python values that are data; anything else an op returns (a profiler handle, an opaque
# object) prints its memory address, which differs in every run.
_DATA_VALUES = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.Size)
# Digests stay on the device and are copied to the host in batches: one copy
# per op would synchronize a GPU after every kernel.
DIGEST_BATCH = 2048
_INTEGER_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_DETERMINISM_WARNING = re.compile(r"deterministic", re.IGNORECASE)
NO_USER_FRAME = "<no user frame>"
RECEIVING = "<receiving from another process>"
MAIN_PROCESS = ""  # the origin of an op the script's own process ran
# How often the progress file is rewritten.
PROGRESS_SECONDS = 0.5


# Position weights (i + 1) * K + C: the digest tells apart tensors that hold the same values in
# another order, which an unweighted sum or XOR (torch.hash_tensor) does not.
_WEIGHT_K, _WEIGHT_C = 0x9E3779B1, 0x7F4A7C15
# Weights are computed once per device, for up to this many elements (32 MiB of int64); longer
# tensors are hashed in chunks of it, each chunk's weights offset by start * K.
WEIGHT_CHUNK = 1 << 22
_weights: dict[torch.device, torch.Tensor] = {}


def _weights_for(device: torch.device, count: int) -> torch.Tensor:
    cached = _weights.get(device)
    if cached is None or cached.numel() < count:
        size = min(WEIGHT_CHUNK, max(count, 2 * (cached.numel() if cached is not None else 4096)))
        cached = torch.arange(1, size + 1, dtype=torch.int64, device=device) * _WEIGHT_K + _WEIGHT_C
        _weights[device] = cached
    return cached[:count]


def _wrapped_int64(value: int) -> int:
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


def tensor_digest(tensor: torch.Tensor) -> torch.Tensor | None:
    """A 0-dim int64 tensor, on the tensor's device, that changes when any bit or position changes.

    The bits are read as integers and summed with position weights in int64.
    Integer addition wraps and is associative, so the digest does not depend on
    the order of the parallel reduction: the hash itself is deterministic.
    """
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type == "meta":
        return None
    flat = tensor.detach().contiguous().reshape(-1)
    if flat.is_complex():
        flat = torch.view_as_real(flat).reshape(-1)
    if flat.numel() == 0:
        return torch.zeros((), dtype=torch.int64, device=flat.device)
    words_of = flat.view(_INTEGER_OF_SIZE[flat.element_size()])
    total: torch.Tensor | None = None
    for start in range(0, words_of.numel(), WEIGHT_CHUNK):
        # A copy even for int64 input: the product is formed in place.
        words = words_of[start:start + WEIGHT_CHUNK].to(torch.int64, copy=True)
        offset = words.sum() * _wrapped_int64(start * _WEIGHT_K) if start else None
        part = words.mul_(_weights_for(flat.device, words.numel())).sum()
        part = part if offset is None else part + offset
        total = part if total is None else total + part
    return total


class UserFrames:
    """Decides which source files are the user's: under the script's folder, not installed packages."""

    def __init__(self, root: Path):
        self.root = str(root.resolve())
        self._own_package = str(Path(__file__).resolve().parent.parent)
        self._decided: dict[str, str | None] = {}

    def location(self) -> str | None:
        """'path:line' of the innermost user frame on the current Python stack.

        None while a tensor sent by another process is being rebuilt.
        """
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            display = self._display(frame.f_code.co_filename)
            if display == RECEIVING:
                return None
            if display is not None:
                return f"{display}:{frame.f_lineno}"
            frame = frame.f_back
        return NO_USER_FRAME

    def _display(self, filename: str) -> str | None:
        if filename not in self._decided:
            self._decided[filename] = self._decide(filename)
        return self._decided[filename]

    def _decide(self, filename: str) -> str | None:
        if filename.startswith("<"):
            return None
        path = os.path.realpath(filename)
        if path.endswith(os.sep + _RECEIVING_MODULE):
            return RECEIVING
        if not path.startswith(self.root + os.sep) or path.startswith(self._own_package + os.sep):
            return None
        if f"{os.sep}site-packages{os.sep}" in path or f"{os.sep}dist-packages{os.sep}" in path:
            return None
        return os.path.relpath(path, os.getcwd())


class OpTracer(TorchDispatchMode):
    """Records each aten op: its name, the user line that called it, and a digest of its outputs."""

    def __init__(self, frames: UserFrames, max_ops: int):
        super().__init__()
        self.frames = frames
        self.max_ops = max_ops
        # [name, location, shapes, digest, origin]; the digest is filled in by flush, the
        # origin is MAIN_PROCESS here and names the worker and batch for a worker's op.
        self.ops: list[list] = []
        self.recorded = 0  # ops recorded so far, also those taken away by take()
        self.total_ops = 0
        self.reached: set[str] = set()  # user lines that ran an op, past the cap too
        self.devices: set[str] = set()  # where the traced ops' outputs live
        self.current_op = ""
        # (ops recorded when the main process took a worker's batch, the worker's pid, the batch index)
        self.batches_taken: list[tuple[int, int, int | None]] = []
        self._pending: list[tuple[int, torch.Tensor]] = []
        self._kernels: list[tuple[int, object]] = []  # (op index, DebugMode's kernel call) to hash once run
        # Forked children (DataLoader workers) inherit the mode; their ops are traced by their own tracer.
        self.pid = os.getpid()

    @classmethod
    def ignore_compile_internals(cls) -> bool:
        """Let `torch.compile` compile as it does untraced (torch >= 2.8 asks; older ones ignore this).

        Without it, dynamo sees an active dispatch mode and runs the function eagerly: the trace
        would then judge code the program does not run. The mode is hidden while compiling, so
        compiling (and a cache hit instead of a compile) adds no ops; at run time, the ops the
        compiled code dispatches (extern kernels such as `addmm.out`) are traced and fused
        kernels are not: their outputs show in the next traced op that reads them.
        """
        return True

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if os.getpid() != self.pid:
            return func(*args, **(kwargs or {}))
        name = str(func.overloadpacket)
        self.current_op = str(func)
        result = func(*args, **(kwargs or {}))
        location = self.frames.location()
        if location is None:
            return result
        if name.startswith(NO_DATA_NAMESPACES):
            return result  # not counted either: the op count is of what the run computes
        self.total_ops += 1
        self.reached.add(location)
        if self.recorded < self.max_ops:
            self._record(str(func), name, location, result)
        return result

    def record_kernel(self, name: str, arguments: dict, call: object) -> None:
        """A compiled kernel launch that DebugMode saw (a Triton kernel on the GPU): traced as an op.

        Its digest is that of its tensor arguments after it ran, which DebugMode computes with
        `tensor_digest` when the launch finishes (`call.post_hashes`).
        """
        if os.getpid() != self.pid:
            return
        location = self.frames.location()
        if location is None:
            return
        self.total_ops += 1
        self.reached.add(location)
        if self.recorded >= self.max_ops:
            return
        tensors = [value for value in arguments.values() if isinstance(value, torch.Tensor)]
        self._kernels.append((len(self.ops), call))
        self._append([f"kernel.{name}", location, _shapes(tensors), None, MAIN_PROCESS], tensors)

    def _record(self, op: str, packet: str, location: str, result) -> None:
        leaves = tree_flatten(result)[0]
        tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
        entry = [op, location, _shapes(tensors), None, MAIN_PROCESS]
        if packet in UNINITIALIZED_OUTPUT_OPS:
            entry[3] = "uninitialized"
        else:
            digests = [tensor_digest(t) for t in tensors]
            hashed = [d for d in digests if d is not None]
            if len(hashed) < len(digests):
                entry[3] = "unhashable"
            elif hashed:
                self._pending.append((len(self.ops), _combined(hashed)))
            else:
                # `.item()` and friends return Python scalars: the value is its own digest.
                entry[3] = "value " + ",".join(repr(leaf) if isinstance(leaf, _DATA_VALUES) else "object"
                                              for leaf in leaves)
        self._append(entry, tensors)
        if len(self._pending) >= DIGEST_BATCH:
            self.flush()

    def _append(self, entry: list, tensors: list[torch.Tensor]) -> None:
        self.ops.append(entry)
        self.recorded += 1
        self.devices.update(str(t.device) for t in tensors)

    def note_batch_taken(self, worker_pid: int, batch: int | None) -> None:
        """The main process takes a worker's batch here: that batch's worker ops go at this point."""
        self.batches_taken.append((len(self.ops), worker_pid, batch))

    def take(self) -> list[list]:
        """The ops recorded since the last take, with their digests; a worker sends them per batch."""
        self.flush(final=True)
        ops, self.ops = self.ops, []
        return ops

    def flush(self, final: bool = False) -> None:
        waiting = []
        for index, call in self._kernels:
            hashes = getattr(call, "post_hashes", None)
            if hashes is None:
                waiting.append((index, call))  # still running: hashed at the next flush
                continue
            hashed = [digest for digest in hashes.values() if isinstance(digest, torch.Tensor)]
            if hashed:
                self._pending.append((index, _combined(hashed)))
            else:
                self.ops[index][3] = "unhashable"
        self._kernels = [] if final else waiting
        for index, _ in waiting if final else ():
            self.ops[index][3] = "unhashed"
        by_device: dict[torch.device, list[tuple[int, torch.Tensor]]] = {}
        for index, digest in self._pending:
            by_device.setdefault(digest.device, []).append((index, digest))
        self._pending = []
        for pairs in by_device.values():
            values = torch.stack([d for _, d in pairs]).tolist()
            for (index, _), value in zip(pairs, values):
                self.ops[index][3] = f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def _shapes(tensors: list[torch.Tensor]) -> str:
    return ",".join(f"{str(t.dtype).removeprefix('torch.')}{list(t.shape)}" for t in tensors)


def _combined(digests: list[torch.Tensor]) -> torch.Tensor:
    combined = digests[0]
    for position, digest in enumerate(digests[1:], start=2):
        combined = combined * 1000003 + digest * position
    return combined


def kernel_recorder(tracer: OpTracer, force: bool = False) -> contextlib.AbstractContextManager:
    """Where torch has DebugMode (>= 2.10) and a GPU: a DebugMode that feeds compiled kernel launches to `tracer`.

    A dispatch mode sees no op inside a kernel that `torch.compile` generated; inductor instead
    reports each Triton kernel launch to an active DebugMode, which then hashes the kernel's
    tensors. This DebugMode records nothing itself (aten ops are the tracer's) and hands each
    launch to `tracer.record_kernel`. On the CPU, inductor's C++ kernels are reported to no one,
    so without a GPU (and `force`) this is a no-op context.
    """
    if not (force or torch.cuda.is_available()):
        return contextlib.nullcontext()
    try:
        from torch.utils._debug_mode import DebugMode, _utils
    except ImportError:
        return contextlib.nullcontext()

    class KernelRecorder(DebugMode):
        def record_triton_kernel(self, kernel_name, kwargs):
            call = super().record_triton_kernel(kernel_name, kwargs)
            self.operators.clear()  # the tracer keeps the trace
            tracer.record_kernel(kernel_name, kwargs, call)
            return call

    try:
        recorder = KernelRecorder(record_realtensor=False, record_output=False, record_profiler_context=False,
                                  record_localtensor=False)
    except Exception:  # noqa: BLE001 - a private API that changed: trace without it
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def recording():
        previous = _utils._TRITON_OUTPUT_HASH_FN
        _utils._TRITON_OUTPUT_HASH_FN = tensor_digest
        try:
            with recorder:
                yield
        finally:
            _utils._TRITON_OUTPUT_HASH_FN = previous

    return recording()


class WarningCollector:
    """Catches PyTorch's nondeterminism alerts and ties each to the op and the user line that raised it."""

    def __init__(self, frames: UserFrames, tracer: OpTracer):
        self.frames = frames
        self.tracer = tracer
        self.alerts: list[dict[str, str]] = []
        self._seen: set[tuple[str, str]] = set()
        self._show = warnings.showwarning

    def install(self) -> None:
        # The script's own filters must not hide the alerts; each distinct one is kept once.
        warnings.filterwarnings("always", message=".*deterministic", category=UserWarning)
        warnings.showwarning = self._showwarning

    def _showwarning(self, message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if not (issubclass(category, UserWarning) and _DETERMINISM_WARNING.search(text)):
            return self._show(message, category, filename, lineno, file, line)
        location = self.frames.location() or RECEIVING
        key = (location, text)
        if key not in self._seen:
            self._seen.add(key)
            self.alerts.append({
                "location": location,
                "op": self.tracer.current_op,
                "message": text.split("\n")[0].split(". You can file an issue")[0],
            })
        return None


# -- DataLoader workers ------------------------------------------------------------

# The worker loop as torch defines it, read before install_worker_tracing replaces it (a spawned
# worker imports this module afresh, so there too it is torch's own).
_WORKER_LOOP = dataloader_worker._worker_loop


def traced_worker_loop(config: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    """A DataLoader worker's loop under its own tracer; each batch's ops are appended to the worker's file.

    `config` (root, max_ops, deterministic, segments) travels to the worker with the loop, so that a
    spawned worker, which inherits nothing, traces as a forked one does. The worker's ops up to
    each batch it sends (the first batch's include the worker's start: seeding, `worker_init_fn`)
    are written before the batch is sent: every batch the main process took has its ops on file.
    """
    bound = inspect.signature(_WORKER_LOOP).bind(*args, **kwargs)
    worker_id = bound.arguments["worker_id"]
    if config["deterministic"]:
        torch.use_deterministic_algorithms(True, warn_only=True)
    frames = UserFrames(Path(config["root"]))
    tracer = OpTracer(frames, config["max_ops"])
    collector = WarningCollector(frames, tracer)
    collector.install()
    segments = Path(f"{config['segments']}.{os.getpid()}.jsonl")
    seen_alerts = 0

    def write_segment(batch: int) -> None:
        nonlocal seen_alerts
        segment = {"worker": worker_id, "pid": os.getpid(), "batch": batch, "ops": tracer.take(),
                   "total_ops": tracer.total_ops, "reached": sorted(tracer.reached),
                   "devices": sorted(tracer.devices), "alerts": collector.alerts[seen_alerts:]}
        tracer.total_ops, tracer.reached, seen_alerts = 0, set(), len(collector.alerts)
        with segments.open("a") as out:
            out.write(json.dumps(segment) + "\n")

    bound.arguments["data_queue"] = _BatchSendingQueue(bound.arguments["data_queue"], write_segment)
    with tracer:
        _WORKER_LOOP(*bound.args, **bound.kwargs)


class _BatchSendingQueue:
    """The worker's data queue, calling `before_batch(index)` before each batch is sent."""

    def __init__(self, queue: Any, before_batch: Callable[[int], None]):
        self._queue = queue
        self._before_batch = before_batch

    def put(self, item: Any, *args: Any, **kwargs: Any) -> None:
        index = item[0]
        if isinstance(index, int):  # not an acknowledgement (a resumed iteration of persistent workers)
            self._before_batch(index)
        self._queue.put(item, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def install_worker_tracing(tracer: OpTracer, config: dict[str, Any]) -> None:
    """Trace the loops of DataLoader workers started from now on, and note where the main process takes each batch.

    A loader that does not hand `_process_data` the worker's index (older torch) does not say
    which worker a taken batch came from; there the workers run untraced.
    """
    iterator = torch.utils.data.dataloader._MultiProcessingDataLoaderIter
    process_data = iterator._process_data
    if "worker_idx" not in inspect.signature(process_data).parameters:
        return
    dataloader_worker._worker_loop = functools.partial(traced_worker_loop, config)

    def taking_batch(self, data, worker_idx):
        if os.getpid() == tracer.pid:
            # In order (the default), the batch's index was counted just before this call;
            # out of order, the worker's next batch is this one.
            batch = self._rcvd_idx - 1 if getattr(self, "_in_order", True) else None
            tracer.note_batch_taken(self._workers[worker_idx].pid, batch)
        return process_data(self, data, worker_idx)

    iterator._process_data = taking_batch  # type: ignore[method-assign]


def merged_ops(tracer: OpTracer, segments_prefix: str) -> tuple[list[list], int, set[str], list[dict[str, str]]]:
    """The main process's ops with each taken batch's worker ops where it was taken.

    Returns the ops, the op count, the user lines reached and the alerts of the taken batches;
    adds the devices of the worker ops to the tracer's.
    Batches that no one took (prefetched when the loop ended) are left out: their timing, not
    the program, decides whether a worker produced them.
    """
    by_pid: dict[int, list[dict]] = {}
    for path in sorted(Path(segments_prefix).parent.glob(Path(segments_prefix).name + ".*.jsonl")):
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a worker killed while writing a batch no one took
                segment = json.loads(line)
                by_pid.setdefault(segment["pid"], []).append(segment)
    ops: list[list] = []
    total = tracer.total_ops
    reached = set(tracer.reached)
    alerts: list[dict[str, str]] = []
    next_of: dict[int, int] = {}
    copied = 0
    for position, pid, batch in tracer.batches_taken:
        ops.extend(tracer.ops[copied:position])
        copied = position
        segments = by_pid.get(pid, [])
        start = next_of.get(pid, 0)
        found = next((i for i in range(start, len(segments)) if batch is None or segments[i]["batch"] == batch), None)
        if found is None:
            continue
        next_of[pid] = found + 1
        segment = segments[found]
        origin = f"worker {segment['worker']}, batch {segment['batch']}"
        ops.extend([*entry[:4], origin] for entry in segment["ops"])
        total += segment["total_ops"]
        reached.update(segment["reached"])
        tracer.devices.update(segment["devices"])
        alerts.extend(segment["alerts"])
    ops.extend(tracer.ops[copied:])
    return ops[:tracer.max_ops], total, reached, alerts


class ProgressWriter(threading.Thread):
    """Writes the ops traced so far to a file twice a second, for the parent's progress line."""

    def __init__(self, tracer: OpTracer, path: Path):
        super().__init__(daemon=True)
        self.tracer = tracer
        self.path = path
        self.stopped = threading.Event()

    def run(self) -> None:
        partial = self.path.with_suffix(".partial")
        while not self.stopped.wait(PROGRESS_SECONDS):
            partial.write_text(str(self.tracer.total_ops))
            os.replace(partial, self.path)


def environment(threads: int) -> dict[str, object]:
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "threads": threads,
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    end_group_with_parent()
    Path(spec["ready"]).touch()
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    if spec["deterministic"]:
        torch.use_deterministic_algorithms(True, warn_only=True)
    script = Path(spec["script"])
    frames = UserFrames(script.parent)
    tracer = OpTracer(frames, spec["max_ops"])
    collector = WarningCollector(frames, tracer)
    collector.install()
    segments = spec["trace"] + ".worker"
    install_worker_tracing(tracer, {"root": str(script.parent), "max_ops": spec["max_ops"],
                                    "deterministic": spec["deterministic"], "segments": segments})
    progress = ProgressWriter(tracer, Path(spec["progress"]))
    progress.start()
    sys.argv = [str(script), *spec["args"]]
    sys.path.insert(0, str(script.parent))
    exit_code = 0
    try:
        with tracer, kernel_recorder(tracer):
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stop:
        exit_code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if not isinstance(stop.code, (int, type(None))):
            print(stop.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the user's failure is reported, with the partial trace
        traceback.print_exc()
        exit_code = 1
    progress.stopped.set()
    tracer.flush(final=True)
    ops, total_ops, reached, worker_alerts = merged_ops(tracer, segments)
    alerts: list[dict[str, str]] = []
    for alert in collector.alerts + worker_alerts:  # each distinct one once, as the collector keeps them
        if alert not in alerts:
            alerts.append(alert)
    trace = {
        "environment": environment(torch.get_num_threads()),
        "exit_code": exit_code,
        "total_ops": total_ops,
        "ops": ops,
        "alerts": alerts,
        "reached": sorted(reached),
        "devices": sorted(tracer.devices),
    }
    Path(spec["trace"]).write_text(json.dumps(trace))
    return exit_code


if __name__ == "__main__":
    # Run the importable module, not this `__main__` copy of it: a spawned DataLoader worker
    # unpickles `traced_worker_loop` by its module's name.
    from repro_lint.verify import trace_worker

    sys.exit(trace_worker.main(sys.argv[1]))
