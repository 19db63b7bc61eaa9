"""A look at a prediction now: `{"prediction": ref}` on the work queue, which a worker's checker takes
(execution_api.providers.checker). The callback route and the poller send one per ref; the cancel route one
per prediction of the jobs it cancelled, so the checker cancels them at the provider at once instead of at
the poller's next look. Light on purpose: the cancel route imports it, and nothing else of the providers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

BATCH = 10  # SendMessageBatch's limit


def check_message(ref: str) -> str:
    return json.dumps({"prediction": ref})


def enqueue_checks(sqs: Any, queue_url: str, refs: Sequence[str]) -> list[str]:
    """One check per ref, ten to a request; the refs whose message the queue did not take."""
    unsent: list[str] = []
    for start in range(0, len(refs), BATCH):
        chunk = refs[start : start + BATCH]
        entries = [{"Id": str(n), "MessageBody": check_message(ref)} for n, ref in enumerate(chunk)]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        unsent += [chunk[int(failed["Id"])] for failed in answer.get("Failed", [])]
    return unsent
