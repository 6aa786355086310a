"""MiniStack, the AWS emulator behind the local stack and the concurrency tests.

Why not moto's server here: moto deep-copies every table a transaction touches, before each
``TransactWriteItems`` (its rollback), so each write costs O(table + stream) and memory
grows with it (measured: 62 ms a debit and 520 MB after ~200 writes, against 13 ms on
MiniStack). MiniStack serializes transactions correctly, honours ``ClientRequestToken``,
computes consumed capacity and enforces DynamoDB's limits. It pins its own botocore, so it
runs from its own virtualenv (``.venv-emulator``, made by the Makefile), never imported here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.harness.template import ROOT

DEFAULT_BIN = ROOT / ".venv-emulator" / "bin" / "ministack"
SERVICES = "dynamodb,dynamodbstreams,sqs,events"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class MiniStack:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_ministack(port: int | None = None, *, timeout: float = 60.0) -> MiniStack:
    binary = Path(os.environ.get("MINISTACK_BIN", DEFAULT_BIN))
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `make emulator` (make test and make run do it for you)")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="ministack-"))
    log_path = workdir / "ministack.log"
    env = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "SERVICES": SERVICES,
        "PERSIST_STATE": "0",
        "LOG_LEVEL": "WARNING",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(binary)], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    running = MiniStack(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"MiniStack exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{running.url}/_ministack/health", timeout=1):
                return running
        except OSError:
            time.sleep(0.2)
    running.stop()
    raise RuntimeError(f"MiniStack did not answer on {running.url} within {timeout:.0f}s")
