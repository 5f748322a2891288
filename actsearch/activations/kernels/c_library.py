"""Building and loading the C kernels of ``kernels.c`` (the CPU backend, :mod:`actsearch.activations.kernels.cpu`,
calls them).

The shared library is built with the system C compiler (``$CC``, else ``cc``) into
``$ACTSEARCH_CACHE_DIR/native`` (default ``~/.cache/actsearch/native``, or ``$XDG_CACHE_HOME/actsearch/native``),
keyed by the source, the flags, the compiler and the CPU, so a later process loads it in milliseconds. The first
build on a machine says so on stderr (it takes several seconds). Without a compiler, or with the kernels switched
off (:mod:`actsearch.activations.kernels.switch`), :func:`library` is None, after a warning in the first case.

Example::

    from actsearch.activations.kernels import c_library
    lib = c_library.library()       # a ctypes.CDLL, or None: the PyTorch implementations run
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from actsearch.activations.kernels.switch import switched_on

__all__ = ["BASE_FLAGS", "FLAG_SETS", "build", "library", "load"]

SOURCE = Path(__file__).with_name("kernels.c")
# -fno-trapping-math lets clamps become vector selects; -fno-tree-pre keeps gcc from turning them back into branches
BASE_FLAGS = ("-O3", "-std=c11", "-fPIC", "-shared", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=fast")
# tried in order: the first set that compiles is used
FLAG_SETS = (
    BASE_FLAGS + ("-fno-tree-pre", "-march=native", "-fopenmp"),
    BASE_FLAGS + ("-march=native", "-fopenmp"),
    BASE_FLAGS,
)
_COMPILE_TIMEOUT = 300  # seconds

_lock = threading.Lock()
_loaded: list[ctypes.CDLL | None] = []  # empty until the first load attempt


def _cache_directory() -> Path:
    if os.environ.get("ACTSEARCH_CACHE_DIR"):
        return Path(os.environ["ACTSEARCH_CACHE_DIR"]) / "native"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "actsearch" / "native"


def _cpu_description() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = [line for line in lines if line.startswith(("model name", "flags", "Features"))]
    return "\n".join(dict.fromkeys(wanted))


def _compiler_version(compiler: str) -> str:
    try:
        return subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def build(compiler: str | None = None, directory: Path | None = None) -> Path:
    """Compile ``kernels.c`` (or reuse an earlier build) and return the shared library's path.

    Raises ``RuntimeError`` with the compiler's message when no flag set compiles."""
    compiler = compiler or os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C compiler {compiler!r} on PATH (set CC to choose one)")
    directory = Path(directory) if directory is not None else _cache_directory()
    source = SOURCE.read_bytes()
    fingerprint = hashlib.sha256(
        b"\0".join([source, compiler.encode(), _compiler_version(compiler).encode(), _cpu_description().encode()])
    )
    errors = []
    announced = False
    for flags in FLAG_SETS:
        key = fingerprint.copy()
        key.update(" ".join(flags).encode())
        target = directory / f"kernels-{key.hexdigest()[:16]}.so"
        if target.exists():
            return target
        directory.mkdir(parents=True, exist_ok=True)
        if not announced:  # instead of a silent stall of the first forward
            print(f"actsearch: compiling CPU kernels once (about 8 s), cached in {directory}", file=sys.stderr,
                  flush=True)
            announced = True
        handle, partial = tempfile.mkstemp(dir=directory, prefix=".building-", suffix=".so")
        os.close(handle)
        try:
            result = subprocess.run(
                [compiler, *flags, "-o", partial, str(SOURCE), "-lm"],
                capture_output=True,
                text=True,
                timeout=_COMPILE_TIMEOUT,
            )
            if result.returncode == 0:
                os.replace(partial, target)  # atomic: processes building at once all end with a whole file
                return target
            errors.append(f"{' '.join(flags)}: {result.stderr.strip()[-500:]}")
        except (OSError, subprocess.SubprocessError) as error:
            errors.append(f"{' '.join(flags)}: {error}")
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    raise RuntimeError("the C compiler failed:\n" + "\n".join(errors))


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    pointer, size, real, flag = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
    signatures = {
        "layeract_forward": [pointer] * 5 + [size, size, real, flag, flag],
        "layeract_backward": [pointer] * 6 + [size, size, flag, flag],
        "anact_prepare": [flag, pointer, size, size, size, flag, real, pointer, pointer, flag] + [pointer] * 4
        + [ctypes.c_double, ctypes.c_double, pointer, flag, ctypes.c_double, flag, flag, pointer],
        "anact_forward": [flag] + [pointer] * 3 + [size, size, size, flag, real, flag],
        "anact_backward": [flag] + [pointer] * 7 + [size, size, size, flag, real, flag],
        "apalu_forward": [pointer] * 4 + [size, size, size, flag, flag],
        "apalu_backward": [pointer] * 7 + [size, size, size, flag, flag],
    }
    for name, argtypes in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, ctypes.c_int
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None when they are switched off or could not be built (warned once)."""
    return load() if switched_on() else None


def load() -> ctypes.CDLL | None:
    """:func:`library` whether or not the kernels are switched off (the caller asked the switch already)."""
    if not _loaded:
        with _lock:
            if not _loaded:
                try:
                    _loaded.append(_declare(ctypes.CDLL(str(build()))))
                except (RuntimeError, OSError) as error:
                    warnings.warn(
                        f"actsearch: the CPU kernels for LayerAct, ANAct and APALU are unavailable, so these run "
                        f"slower on the CPU ({error})",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    _loaded.append(None)
    return _loaded[0]
