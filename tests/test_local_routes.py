"""The local stack's own routes answer a bad request with a 400, not a dropped connection."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from tests.harness.local_stack import make_handler


@pytest.fixture
def local_routes() -> Iterator[int]:
    # No gateway and no emulator: a request refused before the job runs needs neither.
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(None))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("job", ["expiry", "renewal"])
@pytest.mark.parametrize("body", ['{"time": "garbage"}', '{"time": "2027-02-23T00:00:00"}', '{"time": 5}', "[1]"])
def test_a_schedule_time_that_is_not_iso_8601_with_offset_is_a_400(local_routes: int, job: str, body: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", local_routes, timeout=10)
    connection.request("POST", f"/local/schedules/{job}", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 400
    assert "time" in json.loads(response.read())["message"]
