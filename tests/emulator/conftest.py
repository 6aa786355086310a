"""Tests over real HTTP to an emulator in another process: MiniStack (shared by the session,
a fresh table per test) and, for the lock it needs, moto's server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.harness.api_client import create_stack_resources, reset_clients
from tests.harness.ministack import MiniStack, start_ministack
from tests.harness.template import ROOT


@pytest.fixture(scope="session")
def ministack() -> Iterator[MiniStack]:
    running = start_ministack()
    yield running
    running.stop()


def _use_endpoint(url: str) -> Iterator[str]:
    import boto3

    saved = {name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL", "TABLE_NAME", "EVENT_BUS_NAME")}
    suffix = uuid.uuid4().hex[:8]
    os.environ.update({"AWS_ENDPOINT_URL": url, "TABLE_NAME": f"credit-{suffix}", "EVENT_BUS_NAME": f"bus-{suffix}"})
    reset_clients()
    try:
        create_stack_resources(lambda service: boto3.client(service, endpoint_url=url))
        yield url
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_clients()


@pytest.fixture
def emulator(ministack: MiniStack) -> Iterator[str]:
    """MiniStack with this test's own table and bus; the service's clients point at it."""
    yield from _use_endpoint(ministack.url)


@pytest.fixture
def locked_moto() -> Iterator[str]:
    """moto's server behind the request lock, in its own process (no GIL shared with the test)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.harness.emulator"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        yield from _use_endpoint(url)
    finally:
        process.terminate()
        process.wait(timeout=10)
