"""Contract test: schemathesis generates requests from the served OpenAPI schema, valid and
invalid, and checks every answer: never a 5xx, documented status codes and content types, bodies
matching the documented schemas.

Driven with hypothesis directly (one test over every operation): schemathesis' pytest plugin
does not run under this pytest version.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from amazon_assets_tests.api.conftest import bearer

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_generated_request_gets_a_documented_answer(pg_api, token, mode) -> None:
    schema = schemathesis.openapi.from_url(f"{pg_api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        spec = schema.raw_schema["paths"][operation.path][operation.method.lower()]
        if mode is GenerationMode.NEGATIVE and not (
            spec.get("parameters") or spec.get("requestBody")
        ):
            continue  # no input to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            # A fresh admin token per case: every route is reachable, none rate limited.
            case.call_and_validate(headers=bearer(token("admin", "*")), checks=CHECKS)

        check()
