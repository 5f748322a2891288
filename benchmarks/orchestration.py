"""Orchestration overhead of the Ray-distributed search, without training.

1. A trainer that does nothing (a one-epoch task, its value reported): trials per second through the
   whole path (ask, decode, dispatch to a Ray worker, report, tell, journal write, trial log) -> overhead
   per trial. Also Optuna alone on the same journal (no Ray) for reference, and the cost of each extra
   epoch report that goes through the pruning broker (the worker waits for the prune decision).
2. Trainers that sleep a fixed time (2 epochs x 0.5 s, the first reported to the pruner): parallel
   efficiency = ideal time (trials x 1 s / workers) / measured time, for 1, 2, 4 and 8 workers.

Ray is started once (local, CPU slots raised to 8) and reused by every run, as a long search would.

    python benchmarks/orchestration.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import textwrap
import time
from importlib import metadata
from pathlib import Path

import optuna
import ray

from actsearch.search import run_study
from actsearch.study import load_study_file, open_storage, prepare_study
from actsearch.trainers import TrialResult

RESULTS = Path(__file__).resolve().parent / "results" / "orchestration.md"
SLEEP_EPOCHS, EPOCH_S = 2, 0.5  # sleeping trainer: 1 s per trial
REPEATS = 3
REPORT_EPOCHS = 11  # no-op trainer measuring the broker: 10 reports wait for a decision, the last does not


def noop_trainer(task, config, on_epoch):
    history = []
    for epoch in range(1, task.epochs + 1):
        history.append({"epoch": epoch, "val_accuracy": 0.5, "train_loss": 1.0})
        on_epoch(epoch, history[-1])
    return TrialResult(val_accuracy=config.train["lr"], epochs_completed=task.epochs, history=history)


def sleeping_trainer(task, config, on_epoch):
    history = []
    for epoch in range(1, task.epochs + 1):
        time.sleep(EPOCH_S)
        history.append({"epoch": epoch, "val_accuracy": 0.5, "train_loss": 1.0})
        on_epoch(epoch, history[-1])
    return TrialResult(val_accuracy=config.train["lr"], epochs_completed=task.epochs, history=history)


def write_study(folder: Path, name: str, *, trials: int, workers: int, sampler: str, epochs: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            task: {{dataset: digits, network: smallcnn, epochs: {epochs}}}
            space:
              families: {{relu: {{}}, silu: {{}}, layeract: {{alpha: {{low: 1.0e-6, high: 0.1, log: true}}}}}}
              train: {{lr: {{low: 0.01, high: 0.3, log: true}}}}
            sampler: {{name: {sampler}}}
            pruner: {{name: median, options: {{n_startup_trials: 1000}}}}
            budget: {{trials: {trials}}}
            execution: {{workers: {workers}, cpus_per_trial: 1, gpus_per_trial: 0}}
            """
        )
    )
    return path


def optuna_alone(folder: Path, trials: int) -> float:
    """Seconds per trial for the study operations alone: ask, decode, 3 attributes, a report, tell."""
    study_file = load_study_file(
        write_study(folder, "optuna_alone", trials=trials, workers=1, sampler="random", epochs=1)
    )
    storage, where = open_storage(None, study_file.name, runs_dir=folder)
    study, _ = prepare_study(study_file, storage, where)
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        config = study_file.space.suggest(trial)
        trial.set_user_attr("config", config.to_dict())
        trial.set_user_attr("families", config.families())
        trial.report(0.5, 1)
        trial.set_user_attr("result", {"val_accuracy": 0.5, "epochs_completed": 1})
        study.tell(trial, 0.5)
    return (time.perf_counter() - started) / trials


def search(folder: Path, name: str, trainer, *, trials: int, workers: int, epochs: int, sampler: str = "random"):
    study_file = load_study_file(
        write_study(folder, name, trials=trials, workers=workers, sampler=sampler, epochs=epochs)
    )
    return run_study(study_file, runs_dir=folder, progress=False, trial_runner=trainer)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("torch", "optuna", "ray"))
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {versions}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    args = parser.parse_args()
    noop_trials = 40 if args.quick else 200
    rounds = 2 if args.quick else 4
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, configure_logging=False)
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        # The machine may be shared: each no-op figure is the median of REPEATS runs.
        alone = statistics.median(optuna_alone(folder / f"alone{i}", noop_trials) for i in range(REPEATS))
        noop = {}
        for workers, sampler in ((1, "random"), (4, "random"), (1, "tpe")):
            noop[workers, sampler] = statistics.median(
                search(folder / f"noop{i}", f"noop_{workers}_{sampler}", noop_trainer, trials=noop_trials,
                       workers=workers, sampler=sampler, epochs=1).loop_s
                for i in range(REPEATS)
            )
        reports = statistics.median(
            search(folder / f"reports{i}", "reports", noop_trainer, trials=noop_trials, workers=1,
                   epochs=REPORT_EPOCHS).loop_s
            for i in range(REPEATS)
        )
        efficiency = {}
        for workers in (1, 2, 4, 8):
            trials = rounds * workers
            summary = search(folder, f"sleep_{workers}", sleeping_trainer, trials=trials, workers=workers,
                             epochs=SLEEP_EPOCHS)
            ideal = trials * SLEEP_EPOCHS * EPOCH_S / workers
            efficiency[workers] = (trials, ideal, summary.loop_s, summary.startup_s)
    ray.shutdown()

    lines += [
        "## Orchestration overhead (`benchmarks/orchestration.py`)",
        "",
        f"Command: `python benchmarks/orchestration.py{' --quick' if args.quick else ''}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.date.today().isoformat()}",
        "",
        "Storage: the default journal file; pruner: median; sampler: random unless noted; Ray: local, started once",
        "with 8 CPU slots; worker start-up is excluded from the loop time (listed separately).",
        "",
        "### No-op trainer: overhead per trial (ask, decode, dispatch, epoch report, tell, journal, trial log)",
        "",
        "| path | sampler | workers | trials | loop time (s) | trials/s | ms per trial |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| Optuna alone, no Ray (reference) | random | - | {noop_trials} | {alone * noop_trials:.2f} | "
        f"{1 / alone:.0f} | {alone * 1000:.1f} |",
    ]
    for (workers, sampler), loop_s in noop.items():
        per_trial = loop_s / noop_trials
        lines.append(
            f"| whole search path | {sampler} | {workers} | {noop_trials} | {loop_s:.2f} | "
            f"{1 / per_trial:.0f} | {per_trial * 1000:.1f} |"
        )
    per_report = (reports - noop[1, "random"]) / (noop_trials * (REPORT_EPOCHS - 1))
    lines += [
        "",
        f"Each epoch report that waits for a prune decision (worker -> broker -> driver -> broker -> worker) adds "
        f"{per_report * 1000:.1f} ms (one worker, {REPORT_EPOCHS}-epoch no-op trials: "
        f"{reports / noop_trials * 1000:.1f} ms per trial).",
        "",
        f"### Sleeping trainer ({SLEEP_EPOCHS} epochs x {EPOCH_S} s = {SLEEP_EPOCHS * EPOCH_S:g} s per trial): "
        "parallel efficiency",
        "",
        "| workers | trials | ideal (s) | measured loop (s) | efficiency | worker start-up (s) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, (trials, ideal, loop_s, startup_s) in efficiency.items():
        lines.append(f"| {workers} | {trials} | {ideal:.2f} | {loop_s:.2f} | {ideal / loop_s:.1%} | {startup_s:.2f} |")
    worst = min(ideal / loop_s for _, ideal, loop_s, _ in efficiency.values())
    per_trial = noop[1, "random"] / noop_trials
    lines += [
        "",
        f"Targets: <= 20 ms overhead per trial (measured {per_trial * 1000:.1f} ms, one worker, random sampler); "
        f">= 90% efficiency at 8 workers (measured {efficiency[8][1] / efficiency[8][2]:.1%}; lowest {worst:.1%}).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
