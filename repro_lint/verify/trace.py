"""Mode 2: run the user's script three times under the op tracer and say where runs part.

Runs 1 and 2 use the same environment (PYTHONHASHSEED, thread count); their
traces (with the ops of DataLoader workers where the main process took their
batches) are compared op by op. Run 3 enables
`torch.use_deterministic_algorithms(True, warn_only=True)` and collects the
nondeterminism alerts PyTorch raises, tied to the user's source lines. The
children write their traces to a temporary folder and run with
PYTHONDONTWRITEBYTECODE, so the verifier itself writes nothing into the user's tree.
This process never imports torch.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypedDict, cast

from repro_lint.results import Finding
from repro_lint.verify.findings import enclosing_function
from repro_lint.verify.probes import ACCELERATORS
from repro_lint.verify.processes import ChildResult, python_module_command, run_child

WORKER = "repro_lint.verify.trace_worker"
DEFAULT_HASH_SEED = "0"


class TraceEnvironment(TypedDict):
    torch: str
    cuda: str | None
    cudnn: int | None
    threads: int
    cuda_device: str | None


class Alert(TypedDict):
    location: str
    op: str
    message: str


class Trace(TypedDict):
    """What `trace_worker` writes."""

    environment: TraceEnvironment
    exit_code: int
    total_ops: int
    ops: list[list[str]]  # [name, location, shapes, digest, origin: '' or 'worker 0, batch 3']
    alerts: list[Alert]
    reached: list[str]
    devices: list[str]  # where the traced ops' outputs live: 'cpu', 'cuda:0'


class _RunSummaryBase(TypedDict):
    run: str
    seconds: float


class RunSummary(_RunSummaryBase, total=False):
    exit_code: int
    ops: int
    ops_traced: int
    devices: list[str]
    failure: str
    output: str


class OpSide(TypedDict):
    op: str
    location: str
    process: str  # 'main process', or the DataLoader worker and batch: 'DataLoader worker 0, batch 3'
    outputs: str
    hash: str


class _DivergenceBase(TypedDict):
    index: int


class Divergence(_DivergenceBase, total=False):
    """Either both runs' op at `index` (None past a run's last op), or a note when only the counts differ."""

    run_1: OpSide | None
    run_2: OpSide | None
    note: str


class Comparison(TypedDict, total=False):
    result: str  # 'identical' or 'diverged'
    divergence: Divergence
    identical_ops: int
    total_ops: int


class FindingStatus(TypedDict):
    path: str
    line: int
    code: str
    op: str
    message: str
    status: str


class Prediction(TypedDict):
    """The finding that predicted the divergence, and how it was matched to it."""

    code: str
    name: str
    path: str
    line: int
    message: str
    how: str  # 'same line', 'earlier in the same function', 'the program is unseeded'


class _ReportBase(TypedDict):
    script: str
    args: list[str]
    environment: dict[str, object]
    runs: list[RunSummary]


class RunReport(_ReportBase, Comparison, total=False):
    """After a failed run: `result` 'failed' and `failed_run`; else a comparison, `alerts` and `findings`."""

    failed_run: str
    alerts: list[Alert]
    findings: list[FindingStatus]
    prediction: Prediction | None  # with a divergence: None when no finding predicted it
    rules_narrowed: bool  # --select/--ignore chose the rules: a missing prediction may be that choice


@dataclass(frozen=True)
class RunSettings:
    script: Path
    args: tuple[str, ...]
    threads: int | None  # None: torch's default, read from the first run and pinned for the others
    max_ops: int
    timeout: float


@dataclass
class TracedRun:
    label: str
    child: ChildResult
    trace: Trace | None

    @property
    def failed(self) -> bool:
        return self.child.timed_out or self.trace is None or self.trace["exit_code"] != 0

    @property
    def completed_trace(self) -> Trace:
        """The trace of a run that did not fail: `failed` is true for every run without one."""
        return cast(Trace, self.trace)

    def summary(self) -> RunSummary:
        data: RunSummary = {"run": self.label, "seconds": round(self.child.seconds, 2)}
        if self.trace is not None:
            data.update({"exit_code": self.trace["exit_code"], "ops": self.trace["total_ops"],
                         "ops_traced": len(self.trace["ops"]), "devices": self.trace["devices"]})
        if self.failed:
            data["failure"] = (self.child.describe_failure() if self.trace is None or self.child.timed_out
                               else f"exited with code {self.trace['exit_code']}")
            data["output"] = self.child.output_tail()
        return data


class RunProgress:
    """Progress of the runs on stderr.

    On a terminal, one line rewritten in place while a run runs (elapsed time, ops traced so
    far); elsewhere (a pipe, a CI log) a plain line as each run starts and ends, and one every
    `PIPE_EVERY_SECONDS` while it runs.
    """

    PIPE_EVERY_SECONDS = 30

    def __init__(self, stream: TextIO | None = None, terminal: bool | None = None):
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self._shown = ""
        self._reported_at = 0

    def started(self, label: str, script: Path) -> None:
        self._reported_at = 0
        self._line(f"run {label} of {script}: started")

    def running(self, label: str, ops: int, seconds: float) -> None:
        if self.terminal:
            self._rewrite(f"run {label}: {ops} ops so far, {seconds:.0f} s")
        elif seconds >= self._reported_at + self.PIPE_EVERY_SECONDS:
            self._reported_at = int(seconds // self.PIPE_EVERY_SECONDS) * self.PIPE_EVERY_SECONDS
            self._line(f"run {label}: {ops} ops so far, {self._reported_at} s")

    def finished(self, label: str, outcome: str, seconds: float) -> None:
        self._line(f"run {label}: {outcome} in {seconds:g} s")

    def _rewrite(self, text: str) -> None:
        line = f"repro-lint verify: {text}"
        if line != self._shown:
            self.stream.write("\r" + line.ljust(len(self._shown)))
            self.stream.flush()
            self._shown = line

    def _line(self, text: str) -> None:
        clear = "\r" + " " * len(self._shown) + "\r" if self._shown else ""
        self._shown = ""
        self.stream.write(f"{clear}repro-lint verify: {text}\n")
        self.stream.flush()


def verify_run(
    settings: RunSettings, findings: list[Finding], progress: RunProgress | None = None,
    rules_narrowed: bool = False, op_devices: Mapping[str, str] | None = None,
) -> RunReport:
    """Run the script (twice, then under deterministic mode) and build the report.

    `findings` are those of the script's project (its folder); the ones in files the runs
    reached are reported, and a divergence is matched to the one that predicted it.
    `op_devices` gives the catalog's device condition of each op ('cuda', 'any', ...).
    """
    def traced(label: str, threads: int | None, deterministic: bool, folder: Path) -> TracedRun:
        if progress is not None:
            progress.started(label, settings.script)
        run = _traced(settings, label, threads, deterministic, folder, progress)
        if progress is not None:
            summary = run.summary()
            outcome = "failed" if run.failed else f"{summary.get('ops', 0)} ops"
            progress.finished(label, outcome, summary["seconds"])
        return run

    with tempfile.TemporaryDirectory(prefix="repro-lint-trace-") as folder:
        first = traced("1", settings.threads, False, Path(folder))
        runs = [first]
        if not first.failed:
            threads = first.completed_trace["environment"]["threads"]
            runs.append(traced("2", threads, False, Path(folder)))
            if not runs[1].failed:
                runs.append(traced("deterministic mode", threads, True, Path(folder)))
    report: RunReport = {
        "script": str(settings.script), "args": list(settings.args),
        "environment": {**(first.trace.get("environment", {}) if first.trace else {}),
                        "PYTHONHASHSEED": _hash_seed(), "max_ops": settings.max_ops},
        "runs": [run.summary() for run in runs],
    }
    failed = next((run for run in runs if run.failed), None)
    if failed is not None:
        report["result"] = "failed"
        report["failed_run"] = failed.label
        return report
    report.update(compare(runs[0].completed_trace, runs[1].completed_trace))
    alerts = runs[2].completed_trace["alerts"] if len(runs) > 2 else []
    report["alerts"] = alerts
    reached = {op[1] for run in runs for op in run.completed_trace["ops"]} | set(runs[2].completed_trace["reached"])
    files = program_files(settings.script, reached)
    in_program = [finding for finding in findings if _relative(finding.path) in files]
    devices = {device for run in runs for device in run.completed_trace["devices"]}
    report["findings"] = runtime_status(in_program, alerts, reached, devices, op_devices or {})
    if report["result"] == "diverged":
        report["prediction"] = predict(report["divergence"], in_program)
        report["rules_narrowed"] = rules_narrowed
    return report


def program_files(script: Path, reached: set[str]) -> set[str]:
    """The script and the project files the runs ran ops in, as the tracer names them."""
    files = {location.rsplit(":", 1)[0] for location in reached if location != NO_USER_FRAME}
    return files | {_relative(str(script))}


def compare(first: Trace, second: Trace) -> Comparison:
    """'identical' with the op count, or the first op where the traces differ."""
    ops_a, ops_b = first["ops"], second["ops"]
    for index, (a, b) in enumerate(zip(ops_a, ops_b)):
        if a != b:
            return {"result": "diverged", "divergence": _divergence(index, a, b)}
    if len(ops_a) != len(ops_b):
        index = min(len(ops_a), len(ops_b))
        extra_a = ops_a[index] if index < len(ops_a) else None
        extra_b = ops_b[index] if index < len(ops_b) else None
        return {"result": "diverged", "divergence": _divergence(index, extra_a, extra_b)}
    if first["total_ops"] != second["total_ops"]:
        # Past --max-ops only the counts are known.
        return {"result": "diverged", "divergence": {
            "index": len(ops_a), "note": f"after the traced ops, run 1 ran {first['total_ops']} ops "
                                         f"and run 2 ran {second['total_ops']}"}}
    return {"result": "identical", "identical_ops": len(ops_a), "total_ops": first["total_ops"]}


def _divergence(index: int, a: list[str] | None, b: list[str] | None) -> Divergence:
    def side(entry: list[str] | None) -> OpSide | None:
        if entry is None:
            return None
        op, location, shapes, digest, origin = entry
        process = f"DataLoader {origin}" if origin else "main process"
        return {"op": op, "location": location, "process": process, "outputs": shapes, "hash": digest}

    return {"index": index, "run_1": side(a), "run_2": side(b)}


NO_USER_FRAME = "<no user frame>"  # as trace_worker writes it
# aten ops (overload packets) that draw from a generator: where an unseeded RNG shows first.
RNG_DRAW_OPS = frozenset(f"aten.{name}" for name in (
    "uniform_", "normal_", "normal", "rand", "rand_like", "randn", "randn_like", "randint", "randint_like",
    "randperm", "random_", "bernoulli", "bernoulli_", "multinomial", "exponential_", "geometric_", "cauchy_",
    "log_normal_", "native_dropout", "_fused_dropout", "poisson", "binomial", "_standard_gamma",
    "_sample_dirichlet", "rrelu_with_noise", "rrelu_with_noise_",
))
# Findings that say a draw at their own line (or after them in the function) differs per run.
SEEDING_CODES = ("RPL1", "RPL3")
# Findings that say torch's global RNG starts differently in every run of the program, wherever it is drawn.
UNSEEDED_PROGRAM_CODES = frozenset({"RPL101", "RPL104", "RPL107"})


def predict(divergence: Divergence, findings: list[Finding]) -> Prediction | None:
    """The finding that predicted the first divergent op, or None: a divergence no rule saw.

    In order: a finding at the op's line; the nearest finding before it in the same function
    (the module level counts as one); for an RNG draw, a finding that torch's RNG is unseeded
    anywhere in the program. A draw is predicted only by seeding and data-loading findings
    (a `cudnn.benchmark` finding does not explain a different random number).
    """
    sides = [side for side in (divergence.get("run_1"), divergence.get("run_2")) if side is not None]
    for side in sides:
        draw = _is_draw(side["op"])
        if side["location"] == NO_USER_FRAME:
            continue
        path, _, line_text = side["location"].rpartition(":")
        line = int(line_text)
        relevant = [f for f in findings if _relative(f.path) == path and f.cell is None
                    and (not draw or f.code.startswith(SEEDING_CODES))]
        same_line = [f for f in relevant if f.line == line]
        if same_line:
            return _prediction(min(same_line, key=lambda f: f.sort_key), "same line")
        scope = enclosing_function(path, line)
        before = [f for f in relevant if f.line < line and enclosing_function(path, f.line) == scope]
        if before:
            return _prediction(max(before, key=lambda f: (f.line, f.column)), "earlier in the same function")
    if any(_is_draw(side["op"]) for side in sides):
        unseeded = [f for f in findings if f.code in UNSEEDED_PROGRAM_CODES]
        if unseeded:
            return _prediction(min(unseeded, key=lambda f: f.sort_key), "the program is unseeded")
    return None


def _is_draw(op: str) -> bool:
    """Whether the traced op ('aten.uniform_.default') draws from a generator."""
    return op.rsplit(".", 1)[0] in RNG_DRAW_OPS


def _prediction(finding: Finding, how: str) -> Prediction:
    return {"code": finding.code, "name": finding.name, "path": _relative(finding.path), "line": finding.line,
            "message": finding.message, "how": how}


def runtime_status(findings: list[Finding], alerts: list[Alert], reached: set[str], devices: set[str],
                   op_devices: Mapping[str, str]) -> list[FindingStatus]:
    """Each finding that names an op, marked 'confirmed at runtime', 'reached, no alert' or 'not reached'.

    A reached op whose catalog condition is a device (CUDA, MPS) that none of the runs' ops ran
    on is 'reached, not observable here': no alert there says nothing about that device.
    Other findings (flags, seeding) have no op of their own that a trace could show running.
    """
    device_types = {device.split(":")[0] for device in devices}
    alerted = {alert["location"] for alert in alerts}
    marked: list[FindingStatus] = []
    for finding in findings:
        op = finding.op
        if op is None:
            continue
        location = f"{_relative(finding.path)}:{finding.line}"
        if location in alerted:
            status = "confirmed at runtime"
        elif location in reached and op_devices.get(op) in ACCELERATORS and op_devices[op] not in device_types:
            status = (f"reached, not observable here (needs {ACCELERATORS[op_devices[op]]}; "
                      f"the runs' ops ran on {', '.join(sorted(devices)) or 'no device'})")
        elif location in reached:
            status = "reached, no alert"
        else:
            status = "not reached"
        marked.append({"path": finding.path, "line": finding.line, "code": finding.code,
                       "op": op, "message": finding.message, "status": status})
    return marked


def _relative(path: str) -> str:
    """The path as the tracer writes it: relative to the working directory."""
    return os.path.relpath(os.path.realpath(path), os.getcwd())


def _traced(settings: RunSettings, label: str, threads: int | None, deterministic: bool, folder: Path,
            progress: RunProgress | None) -> TracedRun:
    name = label.replace(" ", "-")
    trace_path, ready, ops_so_far = folder / f"trace-{name}.json", folder / f"ready-{name}", folder / f"ops-{name}"
    spec = {"script": str(settings.script.resolve()), "args": list(settings.args), "threads": threads,
            "max_ops": settings.max_ops, "deterministic": deterministic, "trace": str(trace_path),
            "ready": str(ready), "progress": str(ops_so_far)}
    spec_path = folder / f"spec-{name}.json"
    spec_path.write_text(json.dumps(spec))

    def running(seconds: float) -> None:
        if progress is not None:
            try:
                ops = int(ops_so_far.read_text())
            except (OSError, ValueError):  # not written yet
                ops = 0
            progress.running(label, ops, seconds)

    child = run_child(python_module_command(WORKER, str(spec_path)), settings.timeout, ready, env=_child_env(threads),
                      while_running=running)
    trace = json.loads(trace_path.read_text()) if trace_path.exists() and not child.timed_out else None
    return TracedRun(label, child, trace)


def _hash_seed() -> str:
    return os.environ.get("PYTHONHASHSEED", DEFAULT_HASH_SEED)


def _child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = _hash_seed()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


# -- reports --------------------------------------------------------------------


def render_text(report: RunReport) -> str:
    env = report["environment"]
    versions = (f"torch {env['torch']}, CUDA {env['cuda'] or '-'}, cuDNN {env['cudnn'] or '-'}; "
                f"CPU threads: {env['threads']}; " if "torch" in env else "")
    lines = [f"{versions}PYTHONHASHSEED={env['PYTHONHASHSEED']}"]
    for run in report["runs"]:
        ops = f"{run['ops']} ops" if "ops" in run else "no trace"
        if run.get("devices"):
            ops += f" on {', '.join(run['devices'])}"
        lines.append(f"run {run['run']}: {ops}, {run['seconds']} s"
                     + (f" -- {run['failure']}" if "failure" in run else ""))
    if report["result"] == "failed":
        failed = next(run for run in report["runs"] if "failure" in run)
        lines.append(f"verify: run {failed['run']} {failed['failure']}; its output:")
        lines.append(failed["output"] or "(no output)")
        return "\n".join(lines) + "\n"
    if report["result"] == "identical":
        capped = (f" (the first {report['identical_ops']} of {report['total_ops']}, --max-ops)"
                  if report["total_ops"] > report["identical_ops"] else "")
        lines.append(f"identical: {report['identical_ops']} ops{capped}")
    else:
        lines.extend(_divergence_lines(report["divergence"]))
        lines.append(_prediction_line(report.get("prediction"), report.get("rules_narrowed", False)))
    lines.append(f"deterministic mode: {len(report['alerts'])} alert{'s' if len(report['alerts']) != 1 else ''}")
    for alert in report["alerts"]:
        lines.append(f"  {alert['location']}: {alert['op']}: {alert['message']}")
    if report["findings"]:
        lines.append("static findings:")
        for finding in report["findings"]:
            lines.append(f"  {finding['path']}:{finding['line']}: {finding['code']} {finding['status']}")
    return "\n".join(lines) + "\n"


def _divergence_lines(divergence: Divergence) -> list[str]:
    if "note" in divergence:
        return [f"diverged: {divergence['note']}"]
    first, second = divergence["run_1"], divergence["run_2"]
    # compare() leaves both sides None only in a divergence with a note.
    where = cast(OpSide, first or second)
    lines = [f"diverged at op #{divergence['index'] + 1}: {where['op']} at {where['location']}{_in(where)}"]
    for label, side in (("run 1", first), ("run 2", second)):
        if side is None:
            lines.append(f"  {label}: (no more ops)")
        else:
            same = (side["op"], side["location"], side["process"]) == (where["op"], where["location"], where["process"])
            detail = "" if side is where or same else f"{side['op']} at {side['location']}{_in(side)} "
            lines.append(f"  {label}: {detail}{side['outputs']} hash {side['hash']}")
    return lines


def _in(side: OpSide) -> str:
    return "" if side["process"] == "main process" else f" in {side['process']}"


def _prediction_line(prediction: Prediction | None, rules_narrowed: bool) -> str:
    if prediction is None:
        if rules_narrowed:
            return "no lint finding predicted this among the rules --select/--ignore left on"
        return "no lint finding predicted this: a gap in the linter worth reporting"
    return (f"predicted by {prediction['code']} at {prediction['path']}:{prediction['line']} "
            f"({prediction['how']}): {prediction['message']}")


def render_json(report: RunReport) -> str:
    return json.dumps(report, indent=2) + "\n"
