"""PUT and GET /api/provider-keys/{provider} through the handler: the store stamps when a key was stored, in the
one timestamp form (UTC, whole seconds, `Z`), and GET shows what PUT answered."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from local.events import rest_api_event
from tests.support import Api

ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def key_event(method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return rest_api_event(
        method,
        "/api/provider-keys/fal",
        resource="/api/provider-keys/{provider}",
        path_parameters={"provider": "fal"},
        headers={"Content-Type": "application/json"},
        body=None if body is None else json.dumps(body),
        tenant_id="local",
    )


def test_a_stored_key_is_stamped_by_the_store_and_shown_the_same_by_get(api: Api) -> None:
    # Given a tenant's key stored through its route
    put = api.call("ProviderKeysFunction", key_event("PUT", {"apiKey": "fal-id:0123456789abcdefLAST"}))
    assert put.status == 200
    stored = put.body
    # Then the answer says when, in the one timestamp form, and never the key
    assert ISO_SECONDS.fullmatch(stored["updatedAt"]), stored["updatedAt"]
    assert datetime.fromisoformat(stored["updatedAt"]).utcoffset() is not None
    assert stored == {"provider": "fal", "last4": "LAST", "updatedAt": stored["updatedAt"]}
    # And GET shows exactly what PUT answered
    shown = api.call("ProviderKeysFunction", key_event("GET"))
    assert shown.status == 200
    assert shown.body == stored
