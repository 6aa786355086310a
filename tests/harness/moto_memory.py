"""Stop moto keeping every DynamoDB table copy it makes alive for the length of a test.

moto deep-copies each table a ``TransactWriteItems`` touches (its rollback), and every model
object it creates, copies included, is appended to a per-class list kept for its dashboard
(``instances_tracked``) until the mock stops. A test of many writes (the state machine, the
fuzzers) so kept a whole table per write: measured 1.4 GB after 30 order stories, 10 GB in a
longer run. Nothing here reads those lists, so DynamoDB's models are simply not tracked.
"""

from __future__ import annotations

from typing import Any


def untrack_dynamodb_models() -> None:
    from moto.core import common_models

    if getattr(common_models.BaseModel, "_dynamodb_untracked", False):
        return

    def new(cls: Any, *args: Any, **kwargs: Any) -> Any:
        instance = object.__new__(cls)
        if not cls.__module__.startswith("moto.dynamodb"):
            cls.instances_tracked.append(instance)
        return instance

    common_models.BaseModel.__new__ = new  # type: ignore[assignment]
    common_models.BaseModel._dynamodb_untracked = True  # type: ignore[attr-defined]
