"""Helpers shared by the test modules (no fixtures: those live in conftest.py)."""

from __future__ import annotations

from typing import Any


def all_items(client: Any, table_name: str) -> list[dict[str, Any]]:
    """Every item of a table, every page of the scan, in DynamoDB's JSON shape."""
    request: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    items: list[dict[str, Any]] = []
    while True:
        page = client.scan(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def chain(n: int, **plan_fields: Any) -> dict[str, Any]:
    """A request body whose n jobs each depend on the one before."""
    jobs = [{"id": f"j{i}", "operation": "generateVideo", "dependsOn": [f"j{i - 1}"] if i else []} for i in range(n)]
    return {"executionPlan": {"jobs": jobs, **plan_fields}}
