"""Schemathesis against a live server's /openapi.json, on each backend.

Every operation in the schema gets valid (positive) and schema-violating
(negative) requests with the admin key. Every answer must:

- never be a 5xx;
- carry a status code the schema documents for that operation, with the
  documented content type, and a body that conforms to the documented schema;
- when it is an error, be ``application/problem+json`` with ``code``,
  ``status`` equal to the HTTP status, ``type == "/problems/<code>"`` and a
  ``request_id``;
- reject negative data (a request that violates the schema is not a 2xx).

A few vouchers and a redemption are seeded so that generated codes and ids
sometimes hit real ones. VOUCHERS_FUZZ_EXAMPLES sets the examples per
operation and mode (default 40).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import ADMIN_KEY, Api, Server, fresh_database

EXAMPLES = int(os.environ.get("VOUCHERS_FUZZ_EXAMPLES", "40"))
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
SEEDED_CODES = ["FUZZ-A", "FUZZ-B", "fuzz_c"]

# Unknown query parameters are ignored, as HTTP APIs usually do: the contract makes request
# bodies strict, not query strings, so a request whose only fault is an extra query
# parameter is not "negative data" here.
CONFIG = schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False}})

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_server(backend: str, tmp_path: Path) -> Iterator[Server]:
    """A server of its own (guessing protection loosened: the fuzzer guesses on purpose)."""
    with fresh_database(backend, tmp_path) as url:
        server = Server(url, tmp_path / "data", env={"VOUCHERS_LOOKUP_LIMIT": "1000000"})
        server.start()
        try:
            yield server
        finally:
            server.stop()


def seed(api: Api) -> None:
    """Vouchers in several states and one redemption, for generated values to find."""
    for code in SEEDED_CODES:
        api.create_voucher(code=code, max_redemptions=3)
    api.create_voucher(code="FUZZ-LIMITED", max_redemptions=5, per_customer_limit=1)
    assert api.redeem("FUZZ-A", quantity=3).status_code == 201


def header(response: Response, name: str) -> str:
    """One header of a schemathesis response (its keys are lower-case, its values lists)."""
    values = response.headers.get(name.lower()) or [""]
    return values[0]


def assert_problem_document(response: Response, where: str) -> None:
    """Errors are problem+json with a consistent code, status, type and request id."""
    if response.status_code < 400:
        return
    content_type = header(response, "content-type")
    assert content_type.startswith("application/problem+json"), (where, content_type)
    body: dict[str, Any] = response.json()
    code = body.get("code")
    assert isinstance(code, str) and code, (where, body)
    assert body.get("status") == response.status_code, (where, body)
    assert body.get("type") == f"/problems/{code}", (where, body)
    assert body.get("request_id"), (where, body)
    if header(response, "idempotent-replayed") != "true":
        # A replay sends the stored body: its request_id is the first request's.
        assert body.get("request_id") == header(response, "x-request-id"), (where, body)


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    session: requests.Session,
    answers: Counter[str],
) -> None:
    """Run one operation's generated cases in one mode through every check."""
    checks = [*CHECKS, negative_data_rejection] if mode.is_negative else CHECKS

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # report the first failure; no slow shrinking
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Case, data: st.DataObject) -> None:
        if mode.is_positive and "code" in (case.path_parameters or {}) and data.draw(st.booleans()):
            # Now and then aim at a seeded voucher instead of a random code.
            case.path_parameters["code"] = data.draw(st.sampled_from(SEEDED_CODES))
        response = case.call(base_url=base_url, session=session, headers=AUTH)
        where = f"{case.method} {case.formatted_path} -> {response.status_code}"
        answers[f"{operation.label} {response.status_code}"] += 1
        answers[f"mode {mode.value}"] += 1
        assert_problem_document(response, where)
        case.validate_response(response, checks=checks, headers=AUTH)

    try:
        run()
    except Unsatisfiable:
        assert mode.is_negative  # nothing can violate the schema of an operation without inputs


@pytest.mark.slow
def test_schema_fuzz(fuzz_server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    """No generated request, valid or not, gets a 5xx or an answer the schema does not allow."""
    seed(Api(fuzz_server.url))
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json", config=CONFIG)
    session = requests.Session()
    answers: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, fuzz_server.url, session, answers)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as error:  # collect every operation's failure, then fail once
                failures.append(f"{operation.label} ({mode}): {error}")

    total = answers["mode positive"] + answers["mode negative"]
    with capsys.disabled():
        print(
            f"\nschema fuzz: {total} requests over {len(operations)} operations "
            f"({answers['mode positive']} valid, {answers['mode negative']} schema-violating), "
            f"{len(failures)} failing operations"
        )
        for label, count in sorted(answers.items()):
            if not label.startswith("mode "):
                print(f"  {label}: {count}")
    assert not failures, "\n\n".join(failures)
    assert total >= len(operations) * 2
