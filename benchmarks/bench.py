"""repro-lint against its peers on the same corpus, in the same run.

    python benchmarks/bench.py [--corpus-fraction F] [--rounds N] [--peers torchfix,torchdetscan]

Corpus: the `.py` files of the installed torch package, copied to a temporary
folder (`--corpus-fraction` takes an evenly spread share of them, sorted).

Peers go into their own virtual environment, `~/.cache/repro-lint-bench/peers`
(`--peers-venv`): TorchFix 0.7.0 pins an old libcst, and torchdetscan 0.1 is
the ast-based peer. torchdetscan stops at the first file it cannot parse, so
files its interpreter cannot parse are left out of its copy (the result says
how many).

Each round runs, one after the other: repro-lint cold (`--no-cache`, default
worker count), repro-lint warm (cache present, nothing changed), TorchFix
(default worker count), torchdetscan, and the `ast.parse` floor (one process).
Reported: median wall time, CPU time, peak RSS (per process: the main one, the
largest worker, and the sum of the main process and its largest `jobs`
workers), files/s, and repro-lint's ratio to each.

Also measured: repro-lint's cold time per 1,000 lines at 10 %, 50 % and 100 % of
the whole corpus (whatever `--corpus-fraction` says); single-file latency (interpreter start included) against
`flake8 --select RPL`; `repro-lint --version`.

Writes `benchmarks/results/bench.json` and `bench.md` (or `--output`). Speed
targets live here, never in tests: the Markdown marks each one met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
PEERS = {"torchfix": "torchfix==0.7.0", "torchdetscan": "torchdetscan==0.1"}
TARGETS = {  # issue 18
    "cold vs TorchFix (x faster)": 60.0,
    "cold vs torchdetscan (x faster)": 1.0,
    "warm (s)": 1.0,
    "single file (s)": 0.25,
    "--version (s)": 0.15,
    "peak per worker (MB)": 300.0,
}
SMALL_FILE = '''\
import random

import numpy as np
import torch
from torch.utils.data import DataLoader


def train(dataset, epochs: int = 3) -> None:
    torch.backends.cudnn.benchmark = True
    loader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=4)
    model = torch.nn.Linear(10, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
    print(random.random(), np.random.rand())


if __name__ == "__main__":
    train(torch.utils.data.TensorDataset(torch.randn(64, 10), torch.randn(64, 1)))
'''


@dataclass
class Measurement:
    wall: float
    cpu: float
    main_peak_mb: float
    worker_peaks_mb: list[float] = field(default_factory=list)
    returncode: int = 0


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
    except OSError:
        pass
    return found


def _peak_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measure(command: list[str], cwd: Path) -> Measurement:
    """Run `command`; wall time, CPU time of it and its descendants, peak RSS per process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks: dict[int, int] = {}

    def poll() -> None:
        while process.poll() is None:
            pending = [process.pid]
            while pending:
                pid = pending.pop()
                peak = _peak_kb(pid)
                if peak is not None:
                    peaks[pid] = max(peaks.get(pid, 0), peak)
                pending += _children(pid)
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    process.wait()
    wall = time.perf_counter() - start
    poller.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # VmHWM is each process's own high-water mark, so a poll late in its life sees its peak.
    main = peaks.pop(process.pid, 0) / 1024
    return Measurement(wall, cpu, main, sorted((p / 1024 for p in peaks.values()), reverse=True), process.returncode)


def copy_corpus(root: Path, destination: Path, fraction: float) -> list[Path]:
    files = sorted(p for p in root.rglob("*.py") if p.is_file())
    if fraction < 1:
        step = len(files) / max(1, round(len(files) * fraction))
        files = [files[int(i * step)] for i in range(round(len(files) * fraction))]
    copied = []
    for source in files:
        target = destination / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.append(target)
    (destination / "pyproject.toml").write_text("[tool.repro-lint]\n")
    return copied


def line_count(files: list[Path]) -> int:
    return sum(p.read_bytes().count(b"\n") for p in files)


def peers_venv(path: Path, peers: list[str]) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    missing = [PEERS[p] for p in peers if not (path / "bin" / p).exists()]
    if missing:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *missing], check=True)
    return path / "bin"


def unparsable_by(python: Path, files: list[Path]) -> list[Path]:
    """The files `python`'s own `ast` rejects (torchdetscan aborts the whole run on the first one)."""
    script = (
        "import ast, sys\n"
        "for name in sys.stdin.read().splitlines():\n"
        "    try:\n"
        "        ast.parse(open(name, 'rb').read())\n"
        "    except (SyntaxError, ValueError):\n"
        "        print(name)\n"
    )
    result = subprocess.run([str(python), "-c", script], input="\n".join(map(str, files)),
                            capture_output=True, text=True, check=True)
    return [Path(line) for line in result.stdout.splitlines()]


def ast_floor_command(files: list[Path]) -> list[str]:
    listing = Path(tempfile.mkstemp(suffix=".txt")[1])
    listing.write_text("\n".join(map(str, files)))
    return [sys.executable, "-c",
            "import ast, sys\n"
            f"for name in open({str(listing)!r}).read().splitlines():\n"
            "    try:\n"
            "        ast.parse(open(name, 'rb').read())\n"
            "    except (SyntaxError, ValueError):\n"
            "        pass\n"]


def median_run(runs: list[Measurement]) -> dict:
    walls = [r.wall for r in runs]
    chosen = sorted(runs, key=lambda r: r.wall)[len(runs) // 2]
    return {
        "wall_s": statistics.median(walls),
        "walls_s": walls,
        "cpu_s": statistics.median(r.cpu for r in runs),
        "main_peak_mb": max(r.main_peak_mb for r in runs),
        "worker_peak_mb": max((r.worker_peaks_mb[0] for r in runs if r.worker_peaks_mb), default=0.0),
        "worker_peaks_mb": chosen.worker_peaks_mb,
        "returncodes": sorted({r.returncode for r in runs}),
    }


def timed_repeats(command: list[str], cwd: Path, repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_kb = next(int(row.split()[1]) for row in Path("/proc/meminfo").read_text().splitlines()
                         if row.startswith("MemTotal"))
        memory = f", {memory_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration):
        memory = ""
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="a folder of Python sources (default: the installed torch)")
    parser.add_argument("--corpus-fraction", type=float, default=1.0, help="share of the corpus's files (0-1]")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--peers", default="torchfix,torchdetscan",
                        help="comma-separated peers to run, or 'none'")
    parser.add_argument("--peers-venv", type=Path, default=Path.home() / ".cache" / "repro-lint-bench" / "peers")
    parser.add_argument("--no-linearity", action="store_true", help="skip the 10/50/100 %% scaling runs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    peers = [] if args.peers == "none" else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        parser.error(f"unknown peer {unknown[0]!r}; known: {', '.join(PEERS)}")
    if args.corpus is None:
        import importlib.util

        spec = importlib.util.find_spec("torch")
        if spec is None or spec.origin is None:
            parser.error("torch is not installed: pass --corpus")
        args.corpus = Path(spec.origin).parent
    repro_lint = str(BIN / "repro-lint")
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    peer_bin = peers_venv(args.peers_venv, peers) if peers else None

    with tempfile.TemporaryDirectory(prefix="repro-lint-bench-") as temp:
        work = Path(temp)
        corpus = work / "corpus"
        files = copy_corpus(args.corpus, corpus, args.corpus_fraction)
        lines = line_count(files)
        print(f"corpus: {len(files)} files, {lines} lines", flush=True)
        commands: dict[str, tuple[list[str], Path, int]] = {
            "repro-lint cold": ([repro_lint, "check", ".", "--no-cache", "--exit-zero"], corpus, len(files)),
            "repro-lint warm": ([repro_lint, "check", ".", "--exit-zero"], corpus, len(files)),
        }
        left_out: list[Path] = []
        if "torchfix" in peers:
            commands["TorchFix 0.7.0"] = ([str(peer_bin / "torchfix"), str(corpus)], work, len(files))
        if "torchdetscan" in peers:
            left_out = unparsable_by(peer_bin / "python", files)
            detscan_corpus = work / "detscan"
            shutil.copytree(corpus, detscan_corpus)
            for path in left_out:
                (detscan_corpus / path.relative_to(corpus)).unlink()
            commands["torchdetscan 0.1"] = (
                [str(peer_bin / "torchdetscan"), str(detscan_corpus)], work, len(files) - len(left_out))
        commands["ast.parse floor (1 process)"] = (ast_floor_command(files), work, len(files))

        subprocess.run(commands["repro-lint warm"][0], cwd=corpus, capture_output=True)  # prime the cache
        runs: dict[str, list[Measurement]] = {name: [] for name in commands}
        for round_number in range(args.rounds):
            for name, (command, cwd, _) in commands.items():
                runs[name].append(measure(command, cwd))
                print(f"round {round_number + 1}: {name}: {runs[name][-1].wall:.2f} s", flush=True)

        table = {}
        for name, (_, _, count) in commands.items():
            table[name] = median_run(runs[name]) | {"files": count, "files_per_s": count / statistics.median(
                r.wall for r in runs[name])}

        linearity = {}
        if not args.no_linearity:
            for share in (0.1, 0.5, 1.0):
                part = work / f"share-{share}"
                part_files = copy_corpus(args.corpus, part, share)
                part_lines = line_count(part_files)
                run = measure([repro_lint, "check", ".", "--no-cache", "--exit-zero"], part)
                linearity[f"{share:.0%}"] = {"files": len(part_files), "lines": part_lines, "wall_s": run.wall,
                                              "cpu_s": run.cpu, "ms_per_1000_lines": 1000 * run.wall / part_lines * 1000,
                                              "cpu_ms_per_1000_lines": 1000 * run.cpu / part_lines * 1000,
                                              "main_peak_mb": run.main_peak_mb,
                                              "worker_peak_mb": max(run.worker_peaks_mb, default=0.0)}
                print(f"linearity {share:.0%}: {run.wall:.1f} s", flush=True)

        single = work / "single"
        single.mkdir()
        (single / "pyproject.toml").write_text("[tool.repro-lint]\n")
        (single / "train.py").write_text(SMALL_FILE)
        subprocess.run([repro_lint, "check", "train.py"], cwd=single, capture_output=True)  # prime the cache
        latency = {
            "repro-lint check train.py (cache present, as pre-commit runs it)":
                timed_repeats([repro_lint, "check", "--force-exclude", "train.py"], single, 15),
            "repro-lint check --no-cache train.py":
                timed_repeats([repro_lint, "check", "--no-cache", "train.py"], single, 15),
            "flake8 --select RPL train.py": timed_repeats([str(BIN / "flake8"), "--select", "RPL", "train.py"], single, 15),
            "repro-lint --version": timed_repeats([repro_lint, "--version"], single, 15),
        }

    data = {
        "machine": machine(),
        "corpus": {"source": str(args.corpus), "fraction": args.corpus_fraction, "files": len(files), "lines": lines},
        "jobs": jobs,
        "rounds": args.rounds,
        "peers_run": peers,
        "torchdetscan_left_out": [str(p.relative_to(corpus)) for p in left_out],
        "table": table,
        "linearity": linearity,
        "latency_s": latency,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "bench.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.output / "bench.md").write_text(markdown(data))
    print(markdown(data))
    return 0


def markdown(data: dict) -> str:
    corpus = data["corpus"]
    table = data["table"]
    cold = table["repro-lint cold"]
    lines = [
        "# Benchmark: repro-lint and its peers",
        "",
        f"Machine: {data['machine']}.",
        f"Corpus: {corpus['files']} files, {corpus['lines']:,} lines "
        f"({corpus['fraction']:.0%} of the `.py` files of `{Path(corpus['source']).name}`).",
        f"Each tool ran {data['rounds']} times, alternating; medians. repro-lint used its default "
        f"worker count ({data['jobs']}); TorchFix its default (the core count).",
        f"Command: `python benchmarks/bench.py --corpus-fraction {corpus['fraction']} --rounds {data['rounds']}"
        + ("" if data["peers_run"] else " --peers none") + "`.",
    ]
    if data["torchdetscan_left_out"]:
        lines.append(f"torchdetscan aborts on files its interpreter cannot parse: {len(data['torchdetscan_left_out'])} "
                     "left out of its corpus.")
    lines += [
        "",
        "| tool | files | wall (s) | CPU (s) | files/s | peak RSS main (MB) | largest worker (MB) "
        "| main + workers (MB) | repro-lint cold is |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in table.items():
        workers = row["worker_peaks_mb"][: data["jobs"]]
        ratio = row["wall_s"] / cold["wall_s"]
        relation = "—" if name == "repro-lint cold" else (
            f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower")
        lines.append(
            f"| {name} | {row['files']} | {row['wall_s']:.2f} | {row['cpu_s']:.1f} | {row['files_per_s']:.0f} "
            f"| {row['main_peak_mb']:.0f} | {row['worker_peak_mb']:.0f} | {row['main_peak_mb'] + sum(workers):.0f} "
            f"| {relation} |"
        )
    if data["linearity"]:
        lines += ["", f"repro-lint cold, by share of the whole `{Path(corpus['source']).name}` corpus (one run each):", "",
                  "| share | files | lines | wall (s) | CPU (s) | wall ms / 1,000 lines | CPU ms / 1,000 lines "
                  "| peak main (MB) | largest worker (MB) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for share, row in data["linearity"].items():
            lines.append(f"| {share} | {row['files']} | {row['lines']:,} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} "
                         f"| {row['ms_per_1000_lines']:.1f} | {row['cpu_ms_per_1000_lines']:.1f} "
                         f"| {row['main_peak_mb']:.0f} | {row['worker_peak_mb']:.0f} |")
    lines += ["", "Latency, interpreter start included (median of 15):", "", "| command | seconds |", "| --- | ---: |"]
    lines += [f"| `{name}` | {seconds:.3f} |" for name, seconds in data["latency_s"].items()]
    lines += ["", "Targets (issue 18):", ""]
    checks = {
        "warm (s)": table["repro-lint warm"]["wall_s"],
        "single file (s)": data["latency_s"]["repro-lint check train.py (cache present, as pre-commit runs it)"],
        "--version (s)": data["latency_s"]["repro-lint --version"],
        "peak per worker (MB)": cold["worker_peak_mb"] or cold["main_peak_mb"],
    }
    if "TorchFix 0.7.0" in table:
        checks["cold vs TorchFix (x faster)"] = table["TorchFix 0.7.0"]["wall_s"] / cold["wall_s"]
    if "torchdetscan 0.1" in table:
        checks["cold vs torchdetscan (x faster)"] = table["torchdetscan 0.1"]["wall_s"] / cold["wall_s"]
    for name, value in checks.items():
        target = TARGETS[name]
        met = value >= target if "faster" in name else value <= target
        lines.append(f"- {name}: {value:.2f} (target {'≥' if 'faster' in name else '≤'} {target:g}): "
                     f"{'met' if met else 'not met'}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
