"""POST /api/providers/{provider}/callbacks/{ref}: a provider says a prediction finished (docs/providers.md).

No API key: the unguessable ref finds the prediction, and the provider's own signature proves the call is
the provider's. Anything else (a malformed or unknown ref, another provider, a bad or missing signature, one
more than 5 minutes old, a body about another prediction, or a signed message received before: a replay) is
401 and changes nothing. The route opens only Replicate's signing secret, sealed apart from the task token
and the API key (IAM lets it decrypt nothing else). A verified callback only makes the prediction due: a
`{"prediction": ref}` message on the work queue has a worker read it from the provider, copy the outputs and
answer the task, so this route answers in milliseconds and a duplicate or late callback (a new message about
the same prediction) is applied once."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from execution_api.core.sealing import REPLICATE_WEBHOOK, CredentialCipher
from execution_api.providers.signatures import (
    BadSignature,
    FalKeys,
    callback_message_id,
    callback_request_id,
    verify_fal,
    verify_replicate,
)
from execution_api.storage.predictions import REF_FORMAT, PredictionStore


@dataclass
class CallbackService:
    predictions: PredictionStore
    cipher: CredentialCipher
    fal_keys: FalKeys
    enqueue: Callable[[str], None]  # sends {"prediction": ref} to the work queue

    def receive(self, provider: str, ref: str, body: bytes, headers: Mapping[str, str]) -> str:
        """'accepted', 'already settled', or BadSignature (401)."""
        record = self.predictions.get(ref) if REF_FORMAT.fullmatch(ref) else None  # no oversized key to DynamoDB
        if record is None or record.provider != provider:
            raise BadSignature("no prediction of this provider has this callback")
        if provider == "replicate":
            if not record.signing_secret:  # submitted without a callback URL: no callback can be Replicate's
                raise BadSignature("this prediction expects no callback")
            secret = self.cipher.unseal(record.execution_id, record.signing_secret, purpose=REPLICATE_WEBHOOK)
            verify_replicate(secret.get_secret_value(), body, headers)
        else:
            verify_fal(self.fal_keys, body, headers)
        if callback_request_id(provider, _json(body), headers) != record.handle.get("id"):
            raise BadSignature("the callback is about another prediction")
        if not self.predictions.first_callback(ref, callback_message_id(provider, headers)):
            raise BadSignature("this signed callback was received before (a replay)")
        if record.state == "settled":
            return "already settled"
        self.predictions.check_later(ref, 0)  # due now, should the message be lost: the poller sends another
        self.enqueue(ref)
        return "accepted"


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def poll_due(predictions: PredictionStore, enqueue: Callable[[str], None], poll_seconds: int, pages: int = 10) -> int:
    """The scheduled poller: every pending prediction due a look (its callback never came, or make run,
    where no provider can reach a callback URL) goes to a worker, which reads it, heartbeats its task or
    settles it. Its next look is moved first, so a slow worker is not sent the same one every minute."""
    sent = 0
    for _ in range(pages):
        refs = predictions.due()
        for ref in refs:
            predictions.check_later(ref, poll_seconds)
            enqueue(ref)
        sent += len(refs)
        if len(refs) < 100:  # the last page: what is left is not due yet
            break
    return sent
