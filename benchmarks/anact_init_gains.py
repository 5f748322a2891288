"""Why some ANAct and APALU readings diverge: lambda and the signal's RMS at the activations of an untrained
ResNet-20.

Builds ResNet-20 (width 0.5) with each ANAct reading around SiLU and two APALU initialisations, runs a few
training-mode forward passes on real CIFAR-10 batches (no optimizer step; the running estimates settle), then
one more pass records, at every activation, lambda (ANAct only) and the RMS of its input and output. Prints a markdown table: the first, middle and
last activation after a residual add (``stageN.M.act2`` in actsearch's ResNet), and the logits' RMS.

    python benchmarks/anact_init_gains.py --data /tmp/cifar10-jpeg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import anact_variants  # noqa: E402,F401

from actsearch.activations import is_activation_module  # noqa: E402
from actsearch.trainers import Task, build_network, load_data  # noqa: E402
from actsearch.trainers.evaluate import Preprocess  # noqa: E402

READINGS = {
    "silu": {"family": "silu"},
    "package default (mixed/rms, mean subtracted)": {"family": "anact", "params": {"base": "silu"}},
    **{f"{moments}/{gain}": {"family": "anact_variant", "params": {
        "base": "silu", "moments": moments, "gain": gain, "subtract_mean": moments == "centred"}}
       for moments in ("raw", "centred") for gain in ("forward", "backward", "rms")},
    "apalu a=b=1 (package default)": {"family": "apalu"},
    "apalu a=0.5, b=0.75": {"family": "apalu_variant", "params": {"a": 0.5, "b": 0.75}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/cifar10-jpeg")
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = Task(dataset="imagefolder", data_root=args.data, network="resnet20", width=0.5, train_subset=1024,
                val_fraction=0.02, device="cpu")
    data = load_data(task)
    preprocess = Preprocess(data.mean, data.std)
    batches = [preprocess(data.train_images[i * 128:(i + 1) * 128]) for i in range(args.batches + 1)]
    print("| reading | site | lambda | input RMS | output RMS |\n|---|---|---|---|---|")
    for label, spec in READINGS.items():
        torch.manual_seed(0)
        model = build_network(task, spec, data.num_classes, data.in_channels).train()
        records: dict[str, tuple[float, float, float]] = {}

        def hook(name):
            def record(module, inputs, output):
                scale = getattr(module, "scale", None)
                if scale is None and hasattr(module, "_scale"):
                    scale = module._scale(module.running_forward_gain, module.running_backward_gain)
                value = float(scale.mean()) if scale is not None else float("nan")
                records[name] = (value, inputs[0].pow(2).mean().sqrt().item(), output.pow(2).mean().sqrt().item())
            return record

        sites = [name for name, module in model.named_modules() if is_activation_module(module) and name]
        for name in sites:
            model.get_submodule(name).register_forward_hook(hook(name))
        with torch.no_grad():
            for batch in batches:
                logits = model(batch)
        after_add = [name for name in sites if name.endswith("act2")] or sites
        for name in (after_add[0], after_add[len(after_add) // 2], after_add[-1]):
            lam, rms_in, rms_out = records[name]
            print(f"| {label} | {name} | {lam:.2f} | {rms_in:.2f} | {rms_out:.2f} |")
        print(f"| {label} | logits | | | {logits.pow(2).mean().sqrt().item():.3g} |", flush=True)


if __name__ == "__main__":
    main()
