"""AWS clients for the store modules, made from botocore directly and sharing one session.

Not ``boto3.client``: importing boto3 also imports its resource layer and s3transfer, about
35 ms of every cold start (measured in ``make bench``) for features this service never uses.
One session for all of a container's clients, so the second (SQS, EventBridge) reuses the
endpoint and model data the first one loaded.
"""

from __future__ import annotations

import threading
from typing import Any

_session: Any = None
_lock = threading.Lock()  # botocore sessions are not safe for concurrent client creation


def client(service: str, **config: Any) -> Any:
    """A new client for ``service`` (callers keep it: one per container), with botocore
    ``Config`` options; region, credentials and endpoint come from the environment."""
    global _session
    import botocore.session
    from botocore.config import Config

    with _lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session.create_client(service, config=Config(**config) if config else None)
