"""Which ANAct and APALU readings train well, and where the papers' activations stand: seeded CIFAR-10 ablations.

Every variant of a table trains the same network on the same stratified CIFAR-10 subset (one data split, from
seed 0) with the same seeds (weight init and batch order), SGD with Nesterov momentum and a cosine schedule;
each run reports clean accuracy on the whole test set and mean accuracy over every implemented corruption at
severities 1-5 on the first ``--corruption-images`` test images (stratified order), or the epoch where its
loss became NaN/inf. Results are kept per seed in ``benchmarks/results/family_ablation.json`` and reused by
any later table that asks for the same run; each table is also written as
``benchmarks/results/family_ablation_<table>.md`` (mean ± std over the seeds that finished).

    python benchmarks/family_ablation.py --data /tmp/cifar10-jpeg --table anact-moments
    python benchmarks/family_ablation.py --data /tmp/cifar10-jpeg --smoke   # 1 epoch, 200 images, 1 seed, ~25 s

Tables: ``anact-moments`` (stage 1: moment consistency and lambda), ``anact-options`` (stage 2: the
remaining options around the stage-1 choice), ``anact-confirm`` (the choice in smallcnn and torchvision's
resnet18), ``stability`` (learning rate 0.3, 2 epochs, clean accuracy only), ``apalu`` and ``papers``.
BENCHMARKS.md ran ``stability`` with ``--images 2000`` and ``anact-confirm`` with ``--images 2000 --epochs 3``.
Variants that the package does not implement come from ``benchmarks/anact_variants.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import anact_variants  # noqa: E402,F401  (registers anact_variant and apalu_variant)

from actsearch.trainers import DatasetNotFoundError, DivergenceError, Task, load_data, run_trial  # noqa: E402

RESULTS = Path(__file__).parent / "results"
_CHANCE = 0.12  # test accuracy below this after training: a collapsed run (10 classes)


def anact_variant(base: str, **options) -> dict:
    return {"family": "anact_variant", "params": {"base": base, **options}}


def apalu_variant(**options) -> dict:
    return {"family": "apalu_variant", "params": options}


# Stage 1 compares consistent readings: the moment the gain is measured with is the moment of the output, so
# raw moments go with f(x) as it is and centred moments with f(x) - mu.
# The options stage 1 holds at the package's values.
HELD = {"statistics": "running", "learnable": True, "per_channel": False}
STAGE1 = {f"{moments}/{gain}": {"moments": moments, "gain": gain, "subtract_mean": moments == "centred", **HELD}
          for moments in ("raw", "centred") for gain in ("forward", "backward", "rms")}
# SiLU ran all six; with ReLU (where rho' = P(x > 0) whatever the moments) the gains SiLU showed diverging are
# represented by centred/backward only, to fit the CPU budget.
STAGE1_RELU = ("raw/forward", "centred/forward", "centred/backward")
# The stage-1 winner (see BENCHMARKS.md), the centre of stage 2.
STAGE1_CHOICE = {"moments": "centred", "gain": "forward", "subtract_mean": True, **HELD}
# The chosen default: the stage-1 winner made per channel, stage 2's only change that helped.
CHOSEN = {**STAGE1_CHOICE, "per_channel": True}
# APALU's chosen default (the apalu table): softplus, a = 0.5, b = 0.75, per channel.
APALU_CHOSEN = {"a": 0.5, "b": 0.75, "per_channel": True}
STAGE2 = {
    "stage-1 choice": {},
    "statistics=batch": {"statistics": "batch"},
    "learnable=false": {"learnable": False},
    "per_channel=true": {"per_channel": True},
}  # the mean's subtraction is stage 1's raw/forward row (raw moments go with f(x) as it is)


@dataclass(frozen=True)
class Table:
    title: str
    networks: tuple[tuple[str, float], ...]
    variants: dict[str, dict] = field(default_factory=dict)
    lr: float = 0.1
    epochs: int | None = None  # None: --epochs
    corrupted: bool = True


def _anact_rows(base_name: str, extra: dict[str, dict]) -> dict[str, dict]:
    rows = {base_name: {"family": base_name},
            f"anact({base_name}) package default": {"family": "anact", "params": {"base": base_name}}}
    rows.update({f"anact({base_name}) {label}": anact_variant(base_name, **options) for label, options in extra.items()})
    return rows


def _tables() -> dict[str, Table]:
    resnet20 = (("resnet20", 0.5),)
    stage1 = {**_anact_rows("silu", STAGE1), **_anact_rows("relu", {label: STAGE1[label] for label in STAGE1_RELU})}
    # stage 2 with SiLU only (CPU budget); ReLU gets the chosen reading in the papers table
    stage2 = _anact_rows("silu", {label: {**STAGE1_CHOICE, **change} for label, change in STAGE2.items()})
    chosen = {"silu": {"family": "silu"}, "anact(silu) chosen": anact_variant("silu", **CHOSEN),
              "relu": {"family": "relu"}, "anact(relu) chosen": anact_variant("relu", **CHOSEN)}
    stability = {"silu": {"family": "silu"},
                 "anact(silu) stage-1 choice (per layer)": anact_variant("silu", **STAGE1_CHOICE),
                 "anact(silu) chosen": anact_variant("silu", **CHOSEN),
                 "relu": {"family": "relu"},
                 "anact(relu) stage-1 choice (per layer)": anact_variant("relu", **STAGE1_CHOICE),
                 "anact(relu) chosen": anact_variant("relu", **CHOSEN),
                 "apalu chosen": apalu_variant(**APALU_CHOSEN)}
    # a = b = 1 (the package default) collapsed in the papers table; x + x sigmoid(1.702 x) tends to 2x, so
    # a = 0.5 gives the positive side the asymptotic slope 1 of ReLU and SiLU, and b = 1.5a keeps it smooth
    apalu = {
        "relu": {"family": "relu"},
        "silu": {"family": "silu"},
        "apalu package default (softplus, a=b=1)": {"family": "apalu"},
        "softplus, a=1, b=1.5": apalu_variant(a=1.0, b=1.5),
        "softplus, a=0.5, b=0.75": apalu_variant(a=0.5, b=0.75),
        "clamp, a=0.5, b=0.75": apalu_variant(a=0.5, b=0.75, positivity="clamp"),
        "softplus, a=0.5, b=0.75, per channel": apalu_variant(a=0.5, b=0.75, per_channel=True),
    }
    papers = {name: {"family": name} for name in ("relu", "silu", "gelu", "la_silu", "la_hardsilu")}
    papers.update({
        "anact(silu) package default": {"family": "anact", "params": {"base": "silu"}},
        "anact(silu) stage-1 choice (per layer)": anact_variant("silu", **STAGE1_CHOICE),
        "anact(silu) chosen": anact_variant("silu", **CHOSEN),
        "anact(relu) package default": {"family": "anact", "params": {"base": "relu"}},
        "anact(relu) stage-1 choice (per layer)": anact_variant("relu", **STAGE1_CHOICE),
        "anact(relu) chosen": anact_variant("relu", **CHOSEN),
        "apalu package default": {"family": "apalu"},
        "apalu chosen": apalu_variant(**APALU_CHOSEN),
    })
    return {
        "anact-moments": Table("ANAct stage 1: moments and lambda (ResNet-20 x0.5, lr 0.1)", resnet20, stage1),
        "anact-options": Table("ANAct stage 2: options around the stage-1 choice (ResNet-20 x0.5, lr 0.1)",
                               resnet20, stage2),
        "anact-confirm": Table("ANAct chosen reading in other networks (lr 0.1)",
                               (("smallcnn", 1.0), ("tv:resnet18", 1.0)), chosen),
        "stability": Table("ANAct and APALU at lr 0.3 (ResNet-20 x0.5, 2 epochs)", resnet20,
                           stability, lr=0.3, epochs=2, corrupted=False),
        "apalu": Table("APALU: initialisation, positivity, per channel (ResNet-20 x0.5, lr 0.1)", resnet20, apalu),
        "papers": Table("The papers' directions (ResNet-20 x0.5, lr 0.1)", resnet20, papers),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 as an image folder (train/, test/), e.g. the "
                        "shared cifar10-jpeg.tar.gz unpacked into /tmp")
    parser.add_argument("--table", choices=sorted(_tables()), default="papers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=4000, help="training images (stratified subset)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--corruption-images", type=int, default=200, help="test images corrupted per corruption "
                        "and severity")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 leaves a core to others)")
    parser.add_argument("--variants", nargs="+", help="only these variant labels of the table")
    parser.add_argument("--smoke", action="store_true",
                        help="1 epoch, 200 images, seed 0, two variants, results under /tmp (checks the harness)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.images, args.epochs, args.seeds, args.corruption_images = 200, 1, [0], 20
    return args


def _record_key(record: dict) -> str:
    fields = ("network", "width", "spec", "lr", "epochs", "images", "corruption_images", "seed")
    return json.dumps([record[name] for name in fields], sort_keys=True)


def _load_records(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    return {_record_key(record): record for record in json.loads(path.read_text())["records"]}


def _train(task: Task, data, spec: dict, lr: float) -> dict:
    try:
        result = run_trial(task, spec, {"lr": lr}, data=data, evaluate_test=True)
    except DivergenceError as error:
        return {"diverged": str(error), "test_accuracy": None, "corrupted_accuracy": None, "per_category": None}
    return {
        "diverged": None,
        "test_accuracy": result.test_accuracy,
        "corrupted_accuracy": result.corrupted_accuracy,
        "per_category": result.corrupted["per_category"] if result.corrupted else None,
        "final_train_loss": result.history[-1]["train_loss"],
        "images_per_second": result.images_per_second,
        "seconds": result.seconds,
    }


def _summary(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{100 * values[0]:.1f} (1 seed)"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def _command(args) -> str:
    parts = [f"--table {args.table}"]
    defaults = parse_args(["--data", args.data])
    for option in ("images", "epochs", "seeds", "corruption_images", "threads"):
        if getattr(args, option) != getattr(defaults, option):
            value = getattr(args, option)
            parts.append(f"--{option.replace('_', '-')} {' '.join(map(str, value)) if isinstance(value, list) else value}")
    return "python benchmarks/family_ablation.py --data /tmp/cifar10-jpeg " + " ".join(parts)


def _diverged(records: list[dict]) -> str:
    epochs = [r["diverged"].rsplit(" ", 1)[-1] for r in records if r["diverged"] is not None]
    at_chance = sum(r["diverged"] is None and r["test_accuracy"] < _CHANCE for r in records)
    return (f"{len(epochs)}/{len(records)}" + (f" (NaN at epoch {', '.join(epochs)})" if epochs else "")
            + (f"; {at_chance} finished at chance" if at_chance else ""))


def _markdown(table: Table, rows: list[tuple[str, str, float, list[dict]]], args) -> str:
    corrupted = (f"; corrupted: mean over the 16 implemented corruptions x severities 1-5 on the first "
                 f"{args.corruption_images} test images" if table.corrupted else "")
    lines = [
        f"### {table.title}",
        "",
        f"`{_command(args)}` — {args.images} training images (stratified subset, one split for every run), "
        f"{table.epochs or args.epochs} epochs, batch 128, SGD lr {table.lr} (Nesterov, cosine, weight decay 5e-4), "
        f"seeds {', '.join(map(str, args.seeds))}; mean ± std over the seeds that finished; clean accuracy on the "
        f"10,000 test images{corrupted}. {args.threads} torch thread(s) on the shared 2-core AMD EPYC VM, "
        f"{datetime.date.today().isoformat()}; img/s is training throughput under whatever load the machine had.",
        "",
        *(["corrupted/clean is the mean over seeds of each run's ratio; noise % is the noise category (gaussian, "
           "shot, impulse).", ""] if table.corrupted else []),
        "| network | variant | clean % | corrupted % | corrupted/clean | noise % | diverged | img/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for network, label, _, records in rows:
        finished = [r for r in records if r["diverged"] is None]
        speed = f"{statistics.mean(r['images_per_second'] for r in finished):.0f}" if finished else "–"
        scored = [r for r in finished if r["corrupted_accuracy"] is not None]
        ratios = [r["corrupted_accuracy"] / r["test_accuracy"] for r in scored]
        ratio = f"{statistics.mean(ratios):.3f}" if ratios else "–"
        lines.append(f"| {network} | {label} | {_summary([r['test_accuracy'] for r in finished])} | "
                     f"{_summary([r['corrupted_accuracy'] for r in scored])} | {ratio} | "
                     f"{_summary([r['per_category']['noise'] for r in scored])} | {_diverged(records)} | {speed} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    table = _tables()[args.table]
    variants = table.variants
    if args.smoke:
        variants = {"relu": {"family": "relu"}, "anact(silu) chosen": anact_variant("silu", **CHOSEN)}
    elif args.variants:
        unknown = sorted(set(args.variants) - set(variants))
        if unknown:
            raise SystemExit(f"unknown variant(s) {unknown}; allowed: {sorted(variants)}")
        variants = {label: variants[label] for label in args.variants}
    out_dir = Path("/tmp/family_ablation_smoke") if args.smoke else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "family_ablation.json"
    records = {} if args.smoke else _load_records(json_path)
    epochs = table.epochs or args.epochs
    rows = []
    for network, width in table.networks:
        task = Task(dataset="imagefolder", data_root=args.data, network=network, width=width, epochs=epochs,
                    train_subset=args.images, batch_size=128, val_fraction=0.02, device="cpu", seed=0,
                    corruptions="all" if table.corrupted else None, corruption_images=args.corruption_images)
        try:
            data = load_data(task)
        except DatasetNotFoundError as error:
            raise SystemExit(f"--data: {error}") from None
        for label, spec in variants.items():
            seed_records = []
            for seed in args.seeds:
                record = {"network": network, "width": width, "spec": spec, "lr": table.lr, "epochs": epochs,
                          "images": args.images, "corruption_images": args.corruption_images if table.corrupted
                          else None, "seed": seed}
                key = _record_key(record)
                if key not in records:
                    clock = time.perf_counter()
                    record.update(_train(Task(**{**task.to_dict(), "seed": seed}), data, spec, table.lr))
                    record["variant"] = label
                    records[key] = record
                    json_path.write_text(json.dumps({"records": list(records.values())}, indent=1) + "\n")
                    print(f"{network} | {label} | seed {seed} | test {record['test_accuracy']} | corrupted "
                          f"{record['corrupted_accuracy']} | diverged {record['diverged']} | "
                          f"{time.perf_counter() - clock:.0f} s", flush=True)
                seed_records.append(records[key])
            rows.append((network, label, table.lr, seed_records))
    markdown = _markdown(table, rows, args)
    (out_dir / f"family_ablation_{args.table}.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
