"""A search, then its confirm stage, on real CIFAR-10 JPEG images: wall time of each stage, the proxy's
fidelity and the verdict, as a user would run them (``actsearch run``, then ``actsearch confirm``).

The proxy is smallcnn, a few epochs on a few thousand images; the confirm runs train the top
configurations and the ReLU baseline longer, on more images, on several paired seeds, scored on the
held-out test split. Needs the CIFAR-10 JPEG folder (``train/<class>/``, ``test/<class>/``).

    python benchmarks/confirm_stage.py --data /tmp/cifar10-jpeg --out /tmp/confirm-bench [--trials 16]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

STUDY = """\
name: cifar-confirm
task:
  dataset: imagefolder
  data_root: {data}
  network: smallcnn
  epochs: {epochs}
  train_subset: {subset}
  batch_size: 128
  device: cpu
space:
  families:
    relu: {{}}
    silu: {{}}
    gelu: {{}}
    elu: {{}}
    layeract:
      alpha: {{low: 1e-6, high: 0.1, log: true}}
  train:
    lr: {{low: 0.01, high: 0.3, log: true}}
sampler: {{name: tpe, options: {{n_startup_trials: 8}}}}
pruner: none
budget: {{trials: {trials}}}
execution: {{workers: 2, gpus_per_trial: 0, cpus_per_trial: 1}}
seed: 0
baselines:
  - {{name: relu, family: relu, train: {{lr: 0.1}}}}
confirm:
  top: {top}
  seeds: {seeds}
  task: {{epochs: {confirm_epochs}, train_subset: {confirm_subset}}}
  evaluate: test
"""


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return seconds, completed.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="CIFAR-10 JPEG folder (train/, test/)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the study file and runs/")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--subset", type=int, default=3000)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--confirm-epochs", type=int, default=4)
    parser.add_argument("--confirm-subset", type=int, default=4000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    study = args.out / "cifar-confirm.yaml"
    study.write_text(STUDY.format(data=args.data.resolve(), **{k: v for k, v in vars(args).items() if k != "data"}))
    started = datetime.datetime.now(datetime.timezone.utc)
    actsearch = [sys.executable, "-m", "actsearch.cli", "-q"]
    search_s, _ = timed([*actsearch, "run", str(study)], args.out)
    confirm_s, _ = timed([*actsearch, "confirm", str(study)], args.out)
    summary = json.loads((args.out / "runs" / "cifar-confirm" / "confirm.json").read_text())
    fidelity = summary["fidelity"]
    print(f"date: {started:%Y-%m-%d %H:%M} UTC; machine: {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print("study file:\n" + textwrap.indent(study.read_text(), "    "))
    print(f"search: {args.trials} trials in {search_s:.0f} s; confirm: {summary['runs']['complete']}/"
          f"{summary['runs']['planned']} runs ({summary['runs']['failed']} failed) in {confirm_s:.0f} s")
    print(f"fidelity: {json.dumps(fidelity)}")
    for entry in summary["finalists"] + summary["baselines"]:
        values = ", ".join(f"{value:.4f}" for value in entry["values"][summary["objectives"][0]["name"]])
        print(f"{entry['kind']:9} {entry['label']:40} proxy {entry['proxy_score']} test [{values}] "
              f"mean {entry['mean']} ci95 {entry['ci95']} vs {json.dumps(entry['vs_baselines'])}")
    print(f"verdict: {summary['verdict']}")


if __name__ == "__main__":
    main()
