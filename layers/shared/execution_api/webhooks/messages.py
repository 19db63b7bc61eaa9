"""The delivery queue's record as the sender's batch handler parses it. Apart from webhooks.delivery so that the
stream consumer (webhook_enqueue), which only sends tasks, does not load Powertools' parser models at cold start."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BeforeValidator, ConfigDict

from execution_api.core.sqs_json import json_body
from execution_api.webhooks.delivery import DeliveryTask


class DeliveryRecord(SqsRecordModel):
    """A delivery queue record whose body is one task (Powertools' parser: one that does not parse fails alone)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    body: Annotated[DeliveryTask, BeforeValidator(json_body)]
