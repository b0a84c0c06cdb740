"""Child process of `repro-lint verify --run`: runs the user's script under an op tracer.

Usage: python -m repro_lint.verify.trace_worker SPEC.json

SPEC names the script, its arguments, the thread count, the op cap, whether to
enable `use_deterministic_algorithms(True, warn_only=True)`, where to write
the trace (JSON), and the `ready` file to create once torch is imported (the
parent's timeout starts then). The trace is written even when the script fails, so that the
parent can still compare what ran before the failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import runpy
import sys
import traceback
import warnings
from pathlib import Path
from types import FrameType

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from repro_lint.lifetime import end_group_with_parent

# Ops whose output is uninitialized memory: its bits differ between runs of a
# deterministic program, so hashing them would report a false divergence.
UNINITIALIZED_OUTPUT_OPS = frozenset({
    "aten.empty", "aten.empty_like", "aten.empty_strided", "aten.new_empty",
    "aten.new_empty_strided", "aten.empty_permuted",
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
        self.ops: list[list] = []  # [name, location, shapes, digest], digest filled by _flush
        self.total_ops = 0
        self.reached: set[str] = set()  # user lines that ran an op, past the cap too
        self.current_op = ""
        self._pending: list[tuple[int, torch.Tensor]] = []
        self._kernels: list[tuple[int, object]] = []  # (op index, DebugMode's kernel call) to hash once run
        # Forked children (DataLoader workers) inherit the mode; their ops are not this run's trace.
        self._pid = os.getpid()

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
        if os.getpid() != self._pid:
            return func(*args, **(kwargs or {}))
        name = str(func.overloadpacket)
        self.current_op = str(func)
        result = func(*args, **(kwargs or {}))
        location = self.frames.location()
        if location is None:
            return result
        self.total_ops += 1
        self.reached.add(location)
        if len(self.ops) < self.max_ops and not name.startswith(NO_DATA_NAMESPACES):
            self._record(str(func), name, location, result)
        return result

    def record_kernel(self, name: str, arguments: dict, call: object) -> None:
        """A compiled kernel launch that DebugMode saw (a Triton kernel on the GPU): traced as an op.

        Its digest is that of its tensor arguments after it ran, which DebugMode computes with
        `tensor_digest` when the launch finishes (`call.post_hashes`).
        """
        if os.getpid() != self._pid:
            return
        location = self.frames.location()
        if location is None:
            return
        self.total_ops += 1
        self.reached.add(location)
        if len(self.ops) >= self.max_ops:
            return
        tensors = [value for value in arguments.values() if isinstance(value, torch.Tensor)]
        self._kernels.append((len(self.ops), call))
        self.ops.append([f"kernel.{name}", location, _shapes(tensors), None])

    def _record(self, op: str, packet: str, location: str, result) -> None:
        leaves = tree_flatten(result)[0]
        tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
        entry = [op, location, _shapes(tensors), None]
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
        self.ops.append(entry)
        if len(self._pending) >= DIGEST_BATCH:
            self.flush()

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
    tracer.flush(final=True)
    trace = {
        "environment": environment(torch.get_num_threads()),
        "exit_code": exit_code,
        "total_ops": tracer.total_ops,
        "ops": tracer.ops,
        "alerts": collector.alerts,
        "reached": sorted(tracer.reached),
    }
    Path(spec["trace"]).write_text(json.dumps(trace))
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
