"""Mode 1: run the catalog probe of each flagged op on each device, and report what happened.

Each (probe, device) runs in its own child process (`probe_worker`) with a
timeout: a probe that hangs or crashes the interpreter is reported and the run
goes on. This process never imports torch.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypedDict

from repro_lint.verify.processes import ChildResult, python_module_command, run_child

WORKER = "repro_lint.verify.probe_worker"
ACCELERATORS = {"cuda": "CUDA", "mps": "MPS"}  # device conditions a machine may lack
DESCRIBE_TIMEOUT = 120.0


class VerifyError(Exception):
    pass


@dataclass(frozen=True)
class ProbeTarget:
    """One probe to run: a catalog op's probe, shaped after the user's call."""

    op: str
    title: str
    code: str
    dtype: str
    shaped_by: str = ""  # the user's arguments copied into the probe, for the report
    device: str = "any"  # the catalog's device condition: "cuda" (or "mps") ops misbehave only there


@dataclass(frozen=True)
class Site:
    """Where a probe target came from: a finding, or `--op` (no location)."""

    target: ProbeTarget
    path: str | None = None
    line: int | None = None
    column: int | None = None
    code: str | None = None


@dataclass(frozen=True)
class ProbeSettings:
    runs: int
    threads: int
    timeout: float
    seed: int = 0


class Device(TypedDict):
    device: str
    name: str


class Machine(TypedDict):
    """What `probe_worker describe` reports, plus the thread count the probes run with."""

    torch: str
    cuda: str | None
    cudnn: int | None
    default_threads: int
    devices: list[Device]
    threads: int  # added by describe_machine, not the worker


class ProbeSpec(TypedDict):
    """The spec file that `probe_worker probe` reads."""

    op: str
    probe: str
    device: str
    dtype: str
    runs: int
    seed: int
    threads: int


class Series(TypedDict, total=False):
    """One mode's runs: counts from the worker, or the error it raised; `verdict` is added here."""

    runs: int
    distinct: int
    max_abs_diff: float
    differs_in: str
    error: str  # the probe failed (in deterministic mode: not run, since it failed by default)
    raises: str  # deterministic mode
    verdict: str


class _OutcomeBase(TypedDict):
    default: Series


class Outcome(_OutcomeBase, total=False):
    """What one (probe, device) run gave: the worker's result, or why the child failed."""

    threads: int
    deterministic: Series  # absent when default mode raised
    failure: str
    output: str


class ProbeResult(Outcome):
    path: str | None
    line: int | None
    column: int | None
    code: str | None
    op: str
    title: str
    dtype: str
    shaped_by: str
    device: str
    device_name: str


def describe_machine(threads: int | None) -> Machine:
    """Versions and devices, as the child processes see them."""
    with tempfile.TemporaryDirectory(prefix="repro-lint-verify-") as folder:
        result_path, ready = Path(folder, "machine.json"), Path(folder, "ready")
        result = run_child(python_module_command(WORKER, str(ready), "describe", str(result_path)),
                           DESCRIBE_TIMEOUT, ready, env=_child_env(threads))
        if result.failed or not result_path.exists():
            tail = result.output_tail()
            raise VerifyError(f"cannot start torch ({result.describe_failure()})"
                              + (f":\n{tail}" if tail else ""))
        machine: Machine = json.loads(result_path.read_text())
    machine["threads"] = threads or machine["default_threads"]
    return machine


def run_probes(
    sites: Sequence[Site],
    devices: Sequence[Device],
    settings: ProbeSettings,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[ProbeResult]:
    """One result per site and device. Sites sharing a target share its runs."""
    targets = list(dict.fromkeys(site.target for site in sites))
    observed: dict[tuple[ProbeTarget, str], Outcome] = {}
    total = len(targets) * len(devices)
    present = {device["device"] for device in devices}
    for target in targets:
        for device in devices:
            if progress is not None:
                progress(len(observed), total, f"{target.op} on {device['device']}")
            if target.device in ACCELERATORS and target.device not in present:
                observed[target, device["device"]] = _not_observable(target.device)
            else:
                observed[target, device["device"]] = _run_one(target, device["device"], settings)
    if progress is not None:
        progress(total, total, "")
    results: list[ProbeResult] = []
    for site in sites:
        for device in devices:
            outcome = observed[site.target, device["device"]]
            results.append({
                "path": site.path, "line": site.line, "column": site.column, "code": site.code,
                "op": site.target.op, "title": site.target.title, "dtype": site.target.dtype,
                "shaped_by": site.target.shaped_by,
                "device": device["device"], "device_name": device["name"],
                **outcome,
            })
    return results


def _run_one(target: ProbeTarget, device: str, settings: ProbeSettings) -> Outcome:
    spec: ProbeSpec = {"op": target.op, "probe": target.code, "device": device, "dtype": target.dtype,
                       "runs": settings.runs, "seed": settings.seed, "threads": settings.threads}
    with tempfile.TemporaryDirectory(prefix="repro-lint-probe-") as folder:
        spec_path, result_path, ready = Path(folder, "spec.json"), Path(folder, "result.json"), Path(folder, "ready")
        spec_path.write_text(json.dumps(spec))
        child = run_child(python_module_command(WORKER, str(ready), "probe", str(spec_path), str(result_path)),
                          settings.timeout, ready, env=_child_env(settings.threads))
        if not child.failed and result_path.exists():
            outcome: Outcome = json.loads(result_path.read_text())
            outcome["default"]["verdict"] = default_verdict(outcome["default"])
            if "deterministic" in outcome:
                outcome["deterministic"]["verdict"] = deterministic_verdict(outcome["deterministic"])
            return outcome
    return _failed(child)


def _not_observable(needed: str) -> Outcome:
    """A device-specific behaviour on a machine without that device: nothing to run, nothing to claim."""
    verdict = f"not observable here (needs {ACCELERATORS[needed]})"
    return {"default": {"verdict": verdict}, "deterministic": {"verdict": verdict}}


def _failed(child: ChildResult) -> Outcome:
    failure = child.describe_failure()
    return {"failure": failure, "output": child.output_tail(),
            "default": {"verdict": failure}, "deterministic": {"verdict": failure}}


def default_verdict(series: Series) -> str:
    if "error" in series:
        return f"error: {series['error']}"
    runs, distinct = series["runs"], series["distinct"]
    if distinct == 1:
        return f"deterministic ({runs}/{runs} identical)"
    return (f"nondeterministic ({distinct} distinct of {runs}, "
            f"max abs diff {series['max_abs_diff']:.3g} in {series['differs_in']})")


def deterministic_verdict(series: Series) -> str:
    if "error" in series:
        return series["error"]
    if "raises" in series:
        return f"raises under deterministic mode: {series['raises']}"
    if series["distinct"] == 1:
        return "deterministic under deterministic mode"
    return f"nondeterministic under deterministic mode ({series['distinct']} distinct of {series['runs']})"


def is_clean(result: ProbeResult) -> bool:
    """Deterministic in both modes, without raising, crashing or timing out; or not observable here."""
    if str(result["default"]["verdict"]).startswith("not observable here"):
        return True
    return (str(result["default"]["verdict"]).startswith("deterministic (")
            and result["deterministic"]["verdict"] == "deterministic under deterministic mode")


def _child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if threads:
        # torch.set_num_threads in the child pins intra-op threads; these pin the libraries under it.
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    # Without it, deterministic mode makes cuBLAS calls raise; that is a finding of its own (RPL2xx),
    # not the behaviour of the probed op.
    env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# -- reports --------------------------------------------------------------------


def render_text(machine: Machine, settings: ProbeSettings, results: list[ProbeResult]) -> str:
    lines = [_environment_line(machine, settings)]
    header = ("location", "op", "device", "default mode", "deterministic mode")
    rows = [header]
    for result in results:
        location = f"{result['path']}:{result['line']}:{result['column']}" if result["path"] else "--op"
        op = result["op"] + f" ({result['dtype']}{', ' + result['shaped_by'] if result['shaped_by'] else ''})"
        device = f"{result['device']} ({result['device_name']})"
        rows.append((location, op, device, result["default"]["verdict"], result["deterministic"]["verdict"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    for result in results:
        if result.get("output"):
            lines.append(f"\n{result['op']} on {result['device']}: {result['failure']}; its output:\n"
                         f"{result['output']}")
    return "\n".join(lines) + "\n"


def render_json(machine: Machine, settings: ProbeSettings, results: list[ProbeResult]) -> str:
    document = {"environment": _environment(machine, settings), "results": results}
    return json.dumps(document, indent=2) + "\n"


def _environment(machine: Machine, settings: ProbeSettings) -> dict[str, object]:
    return {"torch": machine["torch"], "cuda": machine["cuda"], "cudnn": machine["cudnn"],
            "cpu_threads": settings.threads, "runs": settings.runs, "seed": settings.seed,
            "devices": machine["devices"]}


def _environment_line(machine: Machine, settings: ProbeSettings) -> str:
    return (f"torch {machine['torch']}, CUDA {machine['cuda'] or '-'}, cuDNN {machine['cudnn'] or '-'}; "
            f"CPU threads: {settings.threads}; {settings.runs} runs per mode, seed {settings.seed}")


def line_progress(done: int, total: int, label: str) -> None:
    """A plain line per probe, for logs and pipes."""
    if done < total:
        print(f"repro-lint verify: probe {done + 1}/{total}: {label}", file=sys.stderr, flush=True)


class TerminalProgress:
    """A one-line progress bar on stderr, rewritten in place, with the time since the first probe started."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.started: float | None = None

    def __call__(self, done: int, total: int, label: str) -> None:
        now = time.monotonic()
        self.started = now if self.started is None else self.started
        width = 20
        filled = width * done // max(total, 1)
        text = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}, {now - self.started:.0f} s"
        self.stream.write(text.ljust(80)[:120] if done < total else "\r" + " " * 80 + "\r")
        self.stream.flush()
