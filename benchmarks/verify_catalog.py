"""Probe every catalog op on every device present and record the op x device x mode table.

This is the GPU check of issue 7: run it on a machine with CUDA and commit what it
writes under docs/verified/. On a CPU-only machine it records the CPU column.

    python benchmarks/verify_catalog.py --runs 5 --out docs/verified
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from repro_lint.catalog import load_catalog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=120, help="seconds per probe")
    parser.add_argument("--out", type=Path, default=Path("docs/verified"))
    args = parser.parse_args()

    ops = [entry.id for entry in load_catalog().ops if entry.probe]
    command = [sys.executable, "-m", "repro_lint", "verify", "--format", "json",
               "--runs", str(args.runs), "--timeout", str(args.timeout)]
    for op in ops:
        command += ["--op", op]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode not in (0, 1):
        print(completed.stderr, file=sys.stderr)
        return completed.returncode
    report = json.loads(completed.stdout)
    environment = report["environment"]
    devices = "-".join(f"{d['device']}-{d['name']}".replace(" ", "_") for d in environment["devices"])
    stem = f"torch-{environment['torch']}-{devices}".replace("/", "_")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(report))
    print(f"wrote {args.out / stem}.json and .md ({len(ops)} ops)")
    return 0


def markdown(report: dict) -> str:
    environment = report["environment"]
    lines = [
        f"# Catalog ops observed: torch {environment['torch']}, CUDA {environment.get('cuda')}, "
        f"cuDNN {environment.get('cudnn')}",
        "",
        f"Devices: {json.dumps(environment['devices'])}; CPU threads: {environment.get('cpu_threads')}; "
        f"{environment.get('runs')} runs per mode.",
        "",
        "| op | dtype | device | default mode | deterministic mode |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in report["results"]:
        default = (result.get("default") or {}).get("verdict", result.get("error", ""))
        deterministic = (result.get("deterministic") or {}).get("verdict", "")
        cells = [result["op"], result.get("dtype", ""), f"{result['device']} ({result.get('device_name', '')})",
                 default, deterministic]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
