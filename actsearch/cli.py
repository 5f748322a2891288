"""The ``actsearch`` command.

Exit codes: 0 success, 1 the run failed, 2 bad input (the message says what is wrong and what is allowed).

Example::

    actsearch run studies/quickstart.yaml
    actsearch status studies/quickstart.yaml
    actsearch export studies/quickstart.yaml -o best.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from actsearch.errors import ActsearchError, ConfigError
from actsearch.version import __version__

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

_EPILOG = """\
examples:
  actsearch run studies/quickstart.yaml          # search (resumes if the study exists)
  actsearch confirm studies/quickstart.yaml      # re-train the finalists on several seeds, with statistics
  actsearch status studies/quickstart.yaml       # counts, best trials, failures
  actsearch export studies/quickstart.yaml -o best.json
  actsearch train --config best.json --study studies/quickstart.yaml
  actsearch report studies/quickstart.yaml -o report/
"""


def _add_study_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", metavar="FILE", help="study file (YAML), e.g. studies/quickstart.yaml")
    parser.add_argument(
        "--runs-dir",
        default=".",
        metavar="DIR",
        help="folder holding runs/<study name>/ (default: the current directory)",
    )


def _verbosity_options(parser: argparse.ArgumentParser, default) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", default=default, help="print only errors and the final summary")
    group.add_argument("-v", "--verbose", action="store_true", default=default, help="print debug logs (Ray's too)")


def _command(commands, name: str, summary: str, examples: list[str], description: str | None = None):
    """A subcommand whose help says what it does, with examples; -q/-v work after the command name too."""
    parser = commands.add_parser(
        name,
        help=summary,
        description=description or f"{summary[0].upper()}{summary[1:]}.",
        epilog="example" + ("s" if len(examples) > 1 else "") + ":\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # SUPPRESS keeps a -q given before the command name from being reset by the subcommand's default.
    _verbosity_options(parser, argparse.SUPPRESS)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actsearch",
        description="Search the best activation function configuration for a CNN and task.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"actsearch {__version__}")
    _verbosity_options(parser, False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name, summary in (
        ("run", "run a search, or continue it up to the requested number of finished trials"),
        ("resume", "continue a stopped search (the same as run)"),
    ):
        command = _command(commands, name, summary, [f"actsearch {name} studies/quickstart.yaml --trials 20"])
        _add_study_argument(command)
        command.add_argument("--trials", type=int, metavar="N", help="finished trials wanted (overrides budget.trials)")
        command.add_argument("--workers", type=int, metavar="N", help="parallel trials (overrides execution.workers)")
        command.add_argument(
            "--ray-address", metavar="ADDR", help="join a running Ray cluster (e.g. 10.0.0.1:6379) instead of starting one"
        )

    command = _command(
        commands,
        "confirm",
        "re-train the best configurations and the baselines on several seeds, and compare them",
        [
            "actsearch confirm studies/quickstart.yaml --top 3 --seeds 5",
            "actsearch confirm studies/quickstart.yaml --only-baselines --seeds 10 --json",
        ],
        "Re-train the search's finalists (the best distinct configurations) and the baselines on several "
        "paired seeds at the study file's `confirm:` budget, then report mean, std and 95% CI per "
        "configuration, paired tests against each baseline (Holm-corrected) and the proxy's rank fidelity. "
        "Resumes when run again; results in runs/<name>/confirm.json. --only-baselines evaluates the "
        "study's baselines alone, with no search needed.",
    )
    _add_study_argument(command)
    command.add_argument("--top", type=int, metavar="K", help="finalists to confirm (overrides confirm.top)")
    command.add_argument("--seeds", type=int, metavar="N", help="seeds per configuration (overrides confirm.seeds)")
    command.add_argument("--workers", type=int, metavar="N", help="parallel runs (overrides execution.workers)")
    command.add_argument(
        "--ray-address", metavar="ADDR", help="join a running Ray cluster (e.g. 10.0.0.1:6379) instead of starting one"
    )
    command.add_argument("--only-baselines", action="store_true", help="confirm the baselines alone (no search)")
    command.add_argument("--json", action="store_true", help="print the results as JSON (as confirm.json holds them)")

    command = _command(
        commands,
        "status",
        "show trial counts, best trials, running trials and failures",
        ["actsearch status studies/quickstart.yaml"],
        "Show trial counts by state, the best trials, the running ones and failures with reasons.",
    )
    _add_study_argument(command)

    command = _command(
        commands,
        "export",
        "write the best configuration (or the Pareto set) to JSON or YAML",
        [
            "actsearch export studies/quickstart.yaml -o best.json",
            "actsearch export studies/cifar10-robust.yaml -o best.yaml --pick best:corrupted_accuracy",
            "actsearch export studies/quickstart.yaml -o best.json --weights best.pt",
        ],
        "Write the best configuration's placement plan, training config, objective values and provenance "
        "(with the confirm statistics when a confirm stage has finished).",
    )
    _add_study_argument(command)
    command.add_argument("-o", "--output", required=True, metavar="PATH", help="output file, .json or .yaml")
    command.add_argument(
        "--pick",
        metavar="RULE",
        help="default: the best confirmed mean once `actsearch confirm` has finished, else the best proxy trial "
        "(several objectives: the knee); on the search's proxy scores: proxy, best:<objective>, knee, "
        "trial:<number>, or an index into the ranked list that status shows",
    )
    command.add_argument("--weights", metavar="PATH", help="also write that trial's trained weights (a torch.save "
                         "state_dict, stored when the study's tracking.weights keeps them)")

    command = _command(
        commands,
        "train",
        "train one configuration at full fidelity and print clean and corrupted accuracy",
        [
            "actsearch train --config best.json",
            "actsearch train --activation la_silu --dataset digits --network smallcnn --epochs 5 --json",
            "actsearch train --activation la_silu --preset layeract-cifar10-resnet20 --seed 11 --download",
        ],
        "Train one configuration (an exported file or a single activation) on a task and evaluate it "
        "on the validation and test sets, clean and corrupted.",
    )
    source = command.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="PATH", help="an exported configuration (actsearch export)")
    source.add_argument(
        "--activation",
        metavar="SPEC",
        help="one activation for the whole network: a family name (la_silu) or a JSON spec "
        '(\'{"family": "layeract", "params": {"alpha": 1e-5}}\')',
    )
    command.add_argument("--study", metavar="FILE", help="take the task from this study file")
    command.add_argument(
        "--preset",
        metavar="NAME",
        help="a published recipe's task and hyperparameters, e.g. layeract-cifar10-resnet20 (the LayerAct paper's "
        "182-epoch CIFAR setup; layeract-{cifar10,cifar100}-{resnet20,resnet32,resnet44})",
    )
    command.add_argument("--dataset", help="dataset name (default: the config's task, else digits)")
    command.add_argument(
        "--data-root", metavar="DIR", help="where datasets live (default: $ACTSEARCH_DATA or ~/.cache/actsearch/data)"
    )
    command.add_argument("--download", action="store_true", help="download the dataset through torchvision if missing")
    command.add_argument("--network", help="proxy network (resnet20, resnet32, resnet44, smallcnn, or tv:<torchvision model>)")
    command.add_argument("--width", type=float, help="channel width multiplier")
    command.add_argument("--epochs", type=int)
    command.add_argument("--batch-size", type=int)
    command.add_argument("--image-size", type=int)
    command.add_argument("--train-subset", type=float, help="images (>= 1) or fraction (< 1) of the training split")
    command.add_argument("--seed", type=int)
    command.add_argument("--device", help="auto, cpu, cuda, cuda:1, ...")
    command.add_argument(
        "--corruptions", help="corrupted evaluation: 'all', a category (noise, blur, ...), a comma-separated list, or "
        "'cifar-c' (the official CIFAR-10-C/100-C files under the data root; --download fetches them)"
    )
    command.add_argument(
        "--corruption-images", type=int, metavar="N", help="test images used for the corrupted evaluation (default 1000)"
    )
    command.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="training hyperparameter, e.g. --set lr=0.05"
    )
    command.add_argument("--json", action="store_true", help="print the result as JSON")

    command = _command(
        commands,
        "validate",
        "check a study file and print OK or every error",
        ["actsearch validate studies/cifar10-robust.yaml"],
        "Check a study file without running anything; exit 2 on errors.",
    )
    command.add_argument("study", metavar="FILE")

    command = _command(
        commands,
        "report",
        "write report.html, PNG figures and summary.json from the study's storage",
        ["actsearch report studies/quickstart.yaml -o report/"],
        "Write an offline HTML report, PNG figures and summary.json from the study's storage (no rerun).",
    )
    _add_study_argument(command)
    command.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    command.add_argument("--top", type=int, default=10, metavar="N", help="top trials in the table and breakdown")

    command = _command(
        commands,
        "dashboard",
        "open the study in optuna-dashboard (pip install 'actsearch[dashboard]')",
        ["actsearch dashboard studies/quickstart.yaml --port 8080"],
        "Start optuna-dashboard on the study's storage.",
    )
    _add_study_argument(command)
    command.add_argument("--host", default="127.0.0.1")
    command.add_argument("--port", type=int, default=8080)
    return parser


def _load_study(args: argparse.Namespace):
    from actsearch.study import load_study_file

    return load_study_file(args.study)


def _run(args: argparse.Namespace) -> int:
    from actsearch.search import run_study

    study_file = _load_study(args)
    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {args.workers}")
        study_file = dataclasses.replace(
            study_file, execution=study_file.execution.model_copy(update={"workers": args.workers})
        )
    summary = run_study(
        study_file,
        n_trials=args.trials,
        ray_address=args.ray_address,
        runs_dir=args.runs_dir,
        progress=not args.quiet,
        verbose=args.verbose,
    )
    if args.quiet:
        print(summary, file=sys.stderr)
    # a timeout or a met stop rule (budget.target, budget.patience) ends a run as planned
    planned = summary.stopped.startswith(("timeout", "target", "no improvement"))
    return EXIT_OK if summary.finished >= summary.target or planned else EXIT_FAILED


def _confirm(args: argparse.Namespace) -> int:
    from actsearch.search import run_confirm
    from actsearch.study import format_confirm

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    run = run_confirm(
        _load_study(args),
        top=args.top,
        seeds=args.seeds,
        only_baselines=args.only_baselines,
        workers=args.workers,
        ray_address=args.ray_address,
        runs_dir=args.runs_dir,
        progress=not args.quiet,
        verbose=args.verbose,
    )
    print(json.dumps(run.summary, indent=2) if args.json else format_confirm(run.summary))
    return EXIT_OK if run.summary["finished"] else EXIT_FAILED


def _status(args: argparse.Namespace) -> int:
    from actsearch.report import study_status

    print(study_status(_load_study(args), runs_dir=args.runs_dir))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from actsearch.study import export_best

    path = export_best(_load_study(args), args.output, pick=args.pick, runs_dir=args.runs_dir,
                       weights_path=args.weights)
    print(f"wrote {path}" + (f" and {args.weights}" if args.weights else ""))
    return EXIT_OK


def _parse_assignments(assignments: list[str]) -> dict:
    from actsearch.yamlio import parse_value

    values = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        if not separator or not key:
            raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set lr=0.05")
        values[key.strip()] = parse_value(value)
    return values


def _subset(value: float | None) -> int | float | None:
    return int(value) if value is not None and value >= 1 else value


def _train(args: argparse.Namespace) -> int:
    from actsearch.activations import ActivationSpec, PlacementPlan
    from actsearch.study import load_config
    from actsearch.trainers import Task, paper_setup, train_command

    task_fields: dict = {}
    hparams: dict = {}
    if args.preset:
        preset_task, preset_hparams = paper_setup(args.preset)
        task_fields.update(preset_task.to_dict())
        hparams.update(preset_hparams)
    if args.config:
        exported = load_config(args.config)
        plan = exported.plan
        hparams.update(exported.train)
        task_fields.update(exported.task or {})
    else:
        try:
            parsed = json.loads(args.activation)
        except json.JSONDecodeError:
            parsed = args.activation
        plan = PlacementPlan(default=ActivationSpec.parse(parsed))
    if args.study:
        task_fields.update(_load_study(args).task.to_dict())
    overrides = {
        "dataset": args.dataset,
        "data_root": args.data_root,
        "network": args.network,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "width": args.width,
        "train_subset": _subset(args.train_subset),
        "corruption_images": args.corruption_images,
        "seed": args.seed,
        "device": args.device,
        "corruptions": args.corruptions.split(",") if args.corruptions and "," in args.corruptions else args.corruptions,
    }
    task_fields.update({key: value for key, value in overrides.items() if value is not None})
    if args.download:
        task_fields["download"] = True
    hparams.update(_parse_assignments(args.set))
    train_command(Task.from_dict(task_fields), plan, hparams, as_json=args.json)
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from actsearch.study import validate_command

    exit_code, text = validate_command(args.study)
    print(text, file=sys.stdout if exit_code == EXIT_OK else sys.stderr)
    return exit_code


def _report(args: argparse.Namespace) -> int:
    from actsearch.report import write_report
    from actsearch.study import confirm_summary_of, load_study

    study_file = _load_study(args)
    study = load_study(study_file, runs_dir=args.runs_dir)
    confirm = confirm_summary_of(study_file, runs_dir=args.runs_dir)
    paths = write_report(study, args.output, top=args.top, confirm=confirm)
    print(f"wrote {paths.html}, {paths.summary} and {len(paths.figures)} PNG figures")
    return EXIT_OK


def _dashboard(args: argparse.Namespace) -> int:
    from actsearch.report import dashboard_command
    from actsearch.study import journal_path, run_directory

    study_file = _load_study(args)
    storage = journal_path(study_file.storage, study_file.name, args.runs_dir) or study_file.storage
    artifacts = run_directory(study_file.name, args.runs_dir) / "artifacts"
    return dashboard_command(storage, host=args.host, port=args.port, artifact_dir=artifacts)


_COMMANDS = {
    "run": _run,
    "resume": _run,
    "confirm": _confirm,
    "status": _status,
    "export": _export,
    "train": _train,
    "validate": _validate,
    "report": _report,
    "dashboard": _dashboard,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
    )
    try:
        return _COMMANDS[args.command](args)
    except ConfigError as error:
        print(f"actsearch {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ActsearchError as error:
        print(f"actsearch {args.command}: failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `actsearch validate FILE | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        runs_dir = f" --runs-dir {args.runs_dir}" if getattr(args, "runs_dir", ".") != "." else ""
        again = {"run": "resume", "resume": "resume", "confirm": "confirm"}.get(args.command)
        resume_hint = f"; continue with: actsearch {again} {args.study}{runs_dir}" if again else ""
        print(f"actsearch {args.command}: interrupted{resume_hint}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
