"""The Triton kernels compiled for an NVIDIA GPU (sm_90) by Triton's real compiler, on a machine without one: a
stand-in driver names the target and each launch is replaced by ``JITFunction.warmup``, which compiles exactly
the specialisation the launch would. The interpreter tests (test_activations_gpu.py) check the arithmetic; this
checks that the kernels get past the compiler. Runs in a subprocess, since conftest.py makes this process
interpret the kernels instead. NVIDIA's assembler (ptxas, shipped with Triton) then reports the registers each
kernel spills to memory, which must be none."""

import os
import subprocess
import sys
import textwrap

import pytest

from actsearch.activations.kernels import triton_launch as gpu

pytestmark = pytest.mark.skipif(not gpu.triton_available(), reason="Triton is not installed")

SCRIPT = textwrap.dedent(
    r"""
    import sys
    import torch
    try:
        from triton.backends.compiler import GPUTarget
        from triton.runtime import driver

        class StandIn:  # what warmup asks of a driver, for an sm_90 card that is not there
            def get_current_target(self): return GPUTarget("cuda", 90, 32)
            def get_current_device(self): return 0
            def get_current_stream(self, device=None): return 0
            def get_active_torch_device(self): return torch.device("cpu")
            def get_device_interface(self): return torch.cuda

        driver.set_active(StandIn())
        from actsearch.activations.kernels import triton_kernels
        from actsearch.activations.kernels import triton_launch as gpu
    except Exception as error:  # this Triton's internals differ: nothing to check here
        print(f"setup: {type(error).__name__}: {error}")
        sys.exit(3)

    compiled = []
    def warmup(name, grid, *args, **meta):
        kernel = getattr(triton_kernels, name).warmup(*args, grid=grid, **meta)
        compiled.append((name, meta, kernel.asm["ptx"]))
    gpu._launch = warmup

    for dtype in (torch.float32, torch.bfloat16):
        for hard in (False, True):
            # one program per sample (its backward in one pass, or in chunks); blocks across samples
            for shape in ((8, 16, 16, 16), (8, 16, 32, 32), (2, 64, 56, 56)):
                x = torch.randn(shape, dtype=dtype)
                out, mean, rstd = gpu.layeract_forward(x, 1e-5, hard)
                gpu.layeract_backward(x, torch.randn(shape, dtype=dtype), mean, rstd, hard)
    x = torch.randn(8, 16, 8, 8)
    for kind in range(6):
        scale = torch.rand(16)
        gpu.anact_forward(x, kind, 0.01, scale, scale, True)
        gpu.anact_backward(x, torch.randn_like(x), kind, 0.01, scale, True, True, True)
    gpu.anact_backward(x, torch.randn_like(x), 0, 0.0, torch.rand(1), False, False, True)
    rows = torch.randn(64, 16)  # (N, C) per channel: channels interleaved
    gpu.anact_backward(rows, torch.randn_like(rows), 2, 0.0, torch.rand(16), True, True, True)
    a = torch.rand(16)
    gpu.apalu_forward(x, a, a, True)
    gpu.apalu_backward(x, torch.randn_like(x), a, a, True, True, True)
    print("compiled", *sorted({name for name, _, _ in compiled}))

    # registers spilled to local memory (slow) in any specialisation, as NVIDIA's assembler reports them
    import os, re, subprocess, tempfile, triton
    ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    if not os.path.exists(ptxas):
        print("spills unchecked")
        sys.exit(0)
    spills = []
    with tempfile.TemporaryDirectory() as folder:
        for number, (name, meta, ptx) in enumerate(compiled):
            path = os.path.join(folder, f"{number}.ptx")
            with open(path, "w") as handle:
                handle.write(ptx)
            arch = re.search(r"^\.target\s+(\w+)", ptx, re.M).group(1)
            report = subprocess.run([ptxas, f"-arch={arch}", "-v", path, "-o", os.devnull], capture_output=True,
                                    text=True)
            stores = re.search(r"(\d+) bytes spill stores", report.stdout + report.stderr)
            if stores is None or int(stores.group(1)):
                spills.append(f"{name}{meta}: {' '.join(report.stderr.split())[-300:]}")
    print("spills", *(spills or ["none"]))
    """
)


def test_triton_kernels_compile_for_an_nvidia_gpu(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "triton")
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    if result.returncode == 3:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    names = {"layeract_forward_kernel", "layeract_backward_kernel", "layeract_block_sums_kernel",
             "layeract_gate_kernel", "layeract_backward_block_sums_kernel", "layeract_backward_apply_kernel",
             "anact_forward_kernel", "anact_backward_kernel", "apalu_forward_kernel", "apalu_backward_kernel"}
    compiled, spills = result.stdout.splitlines()[-2:]
    assert compiled.split() == ["compiled", *sorted(names)]
    assert spills in ("spills none", "spills unchecked"), spills  # unchecked: this Triton has no ptxas
