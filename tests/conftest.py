"""The fixtures and hooks (helpers are in tests/support.py). Integration tests run the real handlers,
loaded from template.yaml, against moto with the tables and key created from template.yaml, so tests and
template cannot drift.

TEST_BACKEND=ministack (`make test-ministack`) runs them against one ministack server instead,
emptied before each test; tests marked moto_only rely on what only moto checks and are deselected."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from local import ministack
from local.stack import (
    LocalDeployment,
    apply_environment,
    forget_cached_configuration,
    provision,
    use_local_credentials,
)
from local.template import Template
from tests.support import TEST_BACKEND, TEST_BACKENDS, Api, KeptMoto

# No test asserts a wall-clock time: Hypothesis's default 200 ms deadline per example is one, and fails on a
# loaded machine.
settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")


def pytest_configure(config: pytest.Config) -> None:
    """The test process's environment, set before collection: Powertools reads POWERTOOLS_* when a module
    creates its Logger and Metrics, which happens as test modules import the handlers, so the process gets
    the template's literal settings first."""
    if TEST_BACKEND not in TEST_BACKENDS:
        raise pytest.UsageError(f"TEST_BACKEND={TEST_BACKEND}: one of {', '.join(TEST_BACKENDS)}")
    for function in Template().functions():
        for name, value in function.environment.items():
            if isinstance(value, str):
                os.environ.setdefault(name, value)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    # The kept moto (tests/support.py) purges its queues before each test; moto allows one purge a
    # minute by default, as SQS does. Nothing the tests run purges a queue otherwise.
    os.environ.setdefault("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ministack, leave out the tests that only moto can pass (each says why in its marker)."""
    if TEST_BACKEND != "ministack":
        return
    moto_only = [item for item in items if item.get_closest_marker("moto_only")]
    if moto_only:
        config.hook.pytest_deselected(items=moto_only)
        items[:] = [item for item in items if item not in moto_only]


@pytest.fixture(scope="session")
def ministack_endpoint() -> Iterator[str]:
    """One ministack server for the whole run (TEST_BACKEND=ministack); tests reset it."""
    server = ministack.start()
    yield server.endpoint
    server.stop()


KEPT_MOTO = KeptMoto()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[LocalDeployment]:
    """moto (or ministack) with the template's tables, key, queues and bucket, and the functions'
    environment applied; each test starts with them empty."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # boto3 would send even moto's calls there
    if TEST_BACKEND != "ministack":
        stack = KEPT_MOTO.deployment()  # started before the environment is saved: moto sets fake credentials
    saved = dict(os.environ)
    use_local_credentials()
    if TEST_BACKEND == "ministack":
        endpoint = request.getfixturevalue("ministack_endpoint")
        ministack.reset(endpoint)  # every test starts empty, as under mock_aws
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # the handlers' boto3 clients read it
        stack = provision(endpoint_url=endpoint)
    apply_environment(stack)
    yield stack
    os.environ.clear()
    os.environ.update(saved)
    forget_cached_configuration()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Stop the kept moto after the last of consecutive tests that use it (its state is the process's)."""
    try:
        return (yield)
    finally:
        if nextitem is None or "aws" not in getattr(nextitem, "fixturenames", ()):
            KEPT_MOTO.stop()


@pytest.fixture
def api(aws: LocalDeployment) -> Api:
    return Api(aws)


@pytest.fixture
def configure(aws: LocalDeployment, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Change a setting (environment variable) for one test."""

    def set_variable(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        forget_cached_configuration()

    return set_variable


@pytest.fixture
def table(aws: LocalDeployment) -> Any:
    import boto3

    return boto3.resource("dynamodb", region_name="us-east-1").Table(aws.names["ExecutionsTable"])
