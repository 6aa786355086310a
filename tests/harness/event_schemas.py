"""Write ``shared/events/<detail-type>.schema.json`` from ``store_credit.event_schemas``."""

from __future__ import annotations

import json

from tests.harness.template import ROOT

OUTPUT = ROOT / "shared" / "events"


def render() -> dict[str, str]:
    from store_credit.event_schemas import DETAILS

    files = {}
    for detail_type, model in DETAILS.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": detail_type,
            "description": "EventBridge event (source store-credit); this is its detail",
            "type": "object",
            "required": ["source", "detail-type", "detail"],
            "properties": {
                "source": {"const": "store-credit"},
                "detail-type": {"const": detail_type},
                "detail": model.model_json_schema(),
            },
        }
        files[f"{detail_type}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


if __name__ == "__main__":
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUTPUT / name).write_text(text)
    print(f"wrote {len(render())} schemas to {OUTPUT}")
