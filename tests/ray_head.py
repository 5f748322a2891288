"""A local Ray cluster started as Ray users start one (`ray start --head`), for the cluster tests.

The head runs in its own process group and its own Ray temp folder (``RAY_TMPDIR``), so that neither its
address file nor `ray stop` reach other Ray sessions on the machine; stopping it kills that group only.
It uses Ray's token authentication with its own token: a driver joins it with :attr:`RayHead.auth` in its
environment (``RAY_AUTH_MODE=token``, ``RAY_AUTH_TOKEN``), as Ray asks of every client of such a cluster.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 90


@dataclass
class RayHead:
    address: str  # 127.0.0.1:PORT
    temp_root: str  # RAY_TMPDIR of the head; a driver with it set finds the head without an address
    process: subprocess.Popen
    auth: dict[str, str]  # the environment a client of this head needs

    def stop(self) -> None:
        """SIGTERM to the head's process group, then SIGKILL to what is left of it (the GCS can outlive
        `ray start`); the workers exit with their raylet."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.temp_root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_head(*, cpus: int, gpus: int = 0) -> RayHead:
    """`ray start --head --block` on a free port; ``pytest.skip`` with Ray's own words when it cannot start."""
    temp_root = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    ray_command = Path(sys.executable).with_name("ray")
    log = Path(temp_root) / "ray_start.log"
    command = [str(ray_command), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
               f"--num-cpus={cpus}", f"--num-gpus={gpus}", "--include-dashboard=false", "--disable-usage-stats",
               "--block"]
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    with open(log, "w") as output:
        process = subprocess.Popen(command, env={**os.environ, "RAY_TMPDIR": temp_root, **auth}, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    head = RayHead(f"127.0.0.1:{port}", temp_root, process, auth)
    address_file = Path(temp_root) / "ray" / "ray_current_cluster"
    started = time.monotonic()
    while not address_file.exists():
        if process.poll() is not None or time.monotonic() - started > START_TIMEOUT_S:
            text = log.read_text()[-800:]
            head.stop()
            pytest.skip(f"`ray start --head` could not start a local cluster here: {text}")
        time.sleep(0.5)
    return head
