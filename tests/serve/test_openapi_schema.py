"""Property-based requests generated from the OpenAPI schema by schemathesis (a bounded number per endpoint,
derandomised so CI is repeatable): no input a client can send makes the server answer 500."""

from __future__ import annotations

import pytest
from serve_fixtures import _app

schemathesis = pytest.importorskip("schemathesis")


def test_no_request_gets_a_server_error(corpus):
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_asgi("/openapi.json", _app(corpus))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/search", "/rerank", "/encode", "/health", "/info"}
    for operation in operations:

        @given(operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
        )
        def check(case):
            case.call_and_validate(checks=[not_a_server_error])

        check()
