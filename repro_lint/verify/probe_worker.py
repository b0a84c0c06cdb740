"""Child process of `repro-lint verify`: describes the machine, or runs one catalog probe on one device.

Usage:
    python -m repro_lint.verify.probe_worker READY describe RESULT.json
    python -m repro_lint.verify.probe_worker READY probe SPEC.json RESULT.json

READY is created once torch is imported and loaded: the parent's timeout starts then.

A probe is a few lines from the catalog that assign `out`. Its namespace holds
`torch`, `F`, `nn`, `device`, `dtype`, `g` (a CPU generator seeded before each
run), `R(*shape)` (randn from `g`, cast to `dtype`, moved to `device`) and
`I(high, *shape)` (randint from `g`, moved to `device`). Every run starts from
the same seed, so two runs can only differ through the op itself.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._pytree import tree_flatten

from repro_lint.lifetime import end_group_with_parent

if TYPE_CHECKING:
    from repro_lint.verify.probes import ProbeSpec


def describe() -> dict[str, object]:
    """What the results depend on: versions, devices and their names, the default thread count."""
    devices = [{"device": "cpu", "name": platform.processor() or platform.machine()}]
    if torch.cuda.is_available():
        devices.append({"device": "cuda", "name": torch.cuda.get_device_name()})
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"device": "mps", "name": "Apple MPS"})
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "default_threads": torch.get_num_threads(),
        "devices": devices,
    }


def _namespace(device: torch.device, dtype: torch.dtype, seed: int) -> dict[str, object]:
    generator = torch.Generator(device="cpu").manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(dtype).to(device)

    def randint(high: int, *shape: int) -> torch.Tensor:
        return torch.randint(high, shape, generator=generator).to(device)

    return {"torch": torch, "F": F, "nn": nn, "device": device, "dtype": dtype,
            "g": generator, "R": randn, "I": randint}


def run_probe_once(
    code: CodeType, device: torch.device, dtype: torch.dtype, seed: int
) -> list[tuple[str, torch.Tensor]]:
    """Run the probe and return its named results: the outputs, then gradients it did not return."""
    torch.manual_seed(seed)
    namespace = _namespace(device, dtype, seed)
    exec(code, namespace)  # noqa: S102 - the probe comes from the shipped catalog
    if "out" not in namespace:
        raise RuntimeError("the probe did not assign `out`")
    outputs = [t for t in tree_flatten(namespace["out"])[0] if isinstance(t, torch.Tensor)]
    results = [(f"out[{i}]" if len(outputs) > 1 else "out", t) for i, t in enumerate(outputs)]
    returned = {id(t) for t in outputs}
    for name, value in namespace.items():
        grad = value.grad if isinstance(value, torch.Tensor) and value.is_leaf else None
        if grad is not None and id(grad) not in returned:
            results.append((f"{name}.grad", grad))
    # Copies: the next run must not overwrite them, and the comparison happens on the CPU.
    return [(name, t.detach().to("cpu", copy=True)) for name, t in results]


def _fingerprint(results: list[tuple[str, torch.Tensor]]) -> str:
    digest = hashlib.sha256()
    for name, tensor in results:
        raw = tensor.contiguous().reshape(-1)
        if raw.is_complex():
            raw = torch.view_as_real(raw).reshape(-1)
        # Through an integer view: numpy has no bfloat16, and the bits are what is compared.
        width = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[raw.element_size()]
        digest.update(f"{name}:{tensor.dtype}:{list(tensor.shape)}".encode())
        digest.update(raw.view(width).numpy().tobytes())
    return digest.hexdigest()


def _max_abs_diff(first: list[tuple[str, torch.Tensor]], other: list[tuple[str, torch.Tensor]]) -> tuple[float, str]:
    """The largest elementwise difference from the first run, and the first result that differs."""
    worst, where = 0.0, ""
    for (name, a), (_, b) in zip(first, other):
        if _fingerprint([(name, a)]) == _fingerprint([(name, b)]):
            continue
        where = where or name
        worst = max(worst, _abs_diff(a, b))
    return worst, where


def _abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.is_complex():
        a, b = torch.view_as_real(a), torch.view_as_real(b)
    x, y = a.double(), b.double()
    # NaN in both is no difference; NaN against a number is an infinite one.
    diff = (x - y).abs().nan_to_num(nan=float("inf"))
    diff[x.isnan() & y.isnan()] = 0.0
    return float(diff.max()) if diff.numel() else 0.0


def _series(code: CodeType, device: torch.device, dtype: torch.dtype, runs: int, seed: int) -> dict[str, object]:
    fingerprints: list[str] = []
    first: list[tuple[str, torch.Tensor]] | None = None
    worst, where = 0.0, ""
    for _ in range(runs):
        results = run_probe_once(code, device, dtype, seed)
        fingerprints.append(_fingerprint(results))
        if first is None:
            first = results
        elif fingerprints[-1] != fingerprints[0]:
            diff, name = _max_abs_diff(first, results)
            worst, where = max(worst, diff), where or name
    return {"runs": runs, "distinct": len(set(fingerprints)), "max_abs_diff": worst, "differs_in": where}


def probe(spec: ProbeSpec) -> dict[str, object]:
    torch.set_num_threads(int(spec["threads"]))
    device = torch.device(str(spec["device"]))
    dtype = getattr(torch, str(spec["dtype"]))
    code = compile(str(spec["probe"]), f"<probe {spec['op']}>", "exec")
    runs, seed = int(spec["runs"]), int(spec["seed"])
    result: dict[str, object] = {"threads": torch.get_num_threads()}
    try:
        result["default"] = _series(code, device, dtype, runs, seed)
    except Exception as error:  # noqa: BLE001 - the probe's failure is the observation
        result["default"] = {"error": _one_line(error)}
        result["deterministic"] = {"error": "not run: the probe failed in default mode"}
        return result
    torch.use_deterministic_algorithms(True)
    try:
        result["deterministic"] = _series(code, device, dtype, runs, seed)
    except RuntimeError as error:
        result["deterministic"] = {"raises": _one_line(error)}
    return result


def _one_line(error: BaseException) -> str:
    """The error's type and first sentence: PyTorch's alerts go on with advice on how to silence them."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    sentence_end = first.find(". ")
    if sentence_end != -1:
        first = first[: sentence_end + 1]
    return f"{type(error).__name__}: {first}".rstrip(": ")


def _load_deterministic_mode() -> None:
    """The first `use_deterministic_algorithms` call loads more of torch (seconds): before the timeout starts."""
    enabled = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    torch.use_deterministic_algorithms(enabled)


def main(argv: list[str]) -> int:
    ready, command, *paths = argv
    end_group_with_parent()
    _load_deterministic_mode()
    Path(ready).touch()
    if command == "describe":
        Path(paths[0]).write_text(json.dumps(describe()))
    else:
        spec = json.loads(Path(paths[0]).read_text())
        Path(paths[1]).write_text(json.dumps(probe(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
