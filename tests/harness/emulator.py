"""moto's server behind a lock: the AWS emulator for the local stack and concurrency tests.

moto's threaded server is not atomic under concurrent ``TransactWriteItems`` (measured here:
16 threads spending 7 from 1,000 recorded 151 debits where 142 is the most possible), because
requests interleave inside its backends. Serializing whole requests restores DynamoDB's
per-request atomicity; ``tests/emulator/test_concurrent_debits.py`` proves it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class SerializedApp:
    """WSGI middleware: one request at a time, response fully produced inside the lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


@dataclass
class RunningEmulator:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_emulator(port: int = 0, *, serialized: bool = True) -> RunningEmulator:
    """Serve moto on 127.0.0.1 (port 0: any free port) in a background thread."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    _silence_access_log()
    app: Any = DomainDispatcherApplication(create_backend_app)
    if serialized:
        app = SerializedApp(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="moto-emulator", daemon=True)
    thread.start()
    return RunningEmulator(server, thread)


def _silence_access_log() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main() -> None:
    """``python -m tests.harness.emulator --port N``: serve the locked emulator in its own
    process, so the emulator and the code under test do not share one GIL."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--unserialized", action="store_true", help="moto's plain threaded server (to measure the race)"
    )
    args = parser.parse_args()
    _silence_access_log()
    running = start_emulator(args.port, serialized=not args.unserialized)
    print(running.url, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    running.stop()


if __name__ == "__main__":
    main()
