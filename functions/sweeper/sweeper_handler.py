"""Every few minutes: remove what a submission killed mid-write (Lambda timeout, out of memory) left.

Only plans that need more than one transaction can leave anything; they leave a marker item while
they write (ExecutionStore.create). Nothing they wrote was ever visible to readers.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from execution_api.core.aws_clients import dynamodb_client
from execution_api.core.clock import iso_millis
from execution_api.core.observability import logger, metrics
from execution_api.core.settings import SweeperSettings, load_settings
from execution_api.storage.executions import ExecutionStore

# Lambda's init phase: a missing or malformed variable fails the cold start here, naming it, not a request.
load_settings(SweeperSettings)

# Longer than any submission can run (the submit function's timeout is 29 s), so none is swept alive.
GRACE = timedelta(minutes=2)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    store = ExecutionStore(dynamodb_client(), load_settings(SweeperSettings).executions_table_name)
    removed = store.sweep_abandoned(started_before=iso_millis(datetime.now(UTC) - GRACE))
    metrics.add_metric(name="AbandonedItemsRemoved", unit=MetricUnit.Count, value=removed)
    if removed:
        logger.warning("removed what abandoned submissions left", extra={"items": removed})
    return {"removed": removed}
