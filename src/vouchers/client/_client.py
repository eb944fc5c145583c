"""The voucher service client: one method a route, typed results, safe retries.

Retries never apply a change twice:

- A request that could not connect was never sent, so it is retried whatever it is.
- 503 ``service_unavailable`` and 429 ``rate_limited`` promise nothing was changed,
  so they are retried after ``Retry-After`` (when that is longer than
  ``max_retry_wait`` the error is raised at once instead).
- When the outcome is unknown (the connection broke after sending, or no answer
  came in time), only requests that are safe to repeat are retried: GETs, and the
  state-changing POSTs (create voucher, redeem, reversal, batch create), which
  always carry an ``Idempotency-Key``: the caller's, or a fresh uuid4 reused for
  every retry of that call. The service then applies the request at most once
  and replays its stored answer. 409 ``idempotency_in_progress`` (the first
  attempt is still running) is retried with the same key too.
- PATCH and DELETE carry no key; they are retried only when nothing was sent.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from enum import Enum
from typing import IO, Any, Final, Literal, TypeVar, overload
from urllib.parse import quote

import requests
from urllib3.exceptions import NewConnectionError

from vouchers import __version__
from vouchers.client._errors import (
    ApiError,
    BatchFailed,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    IdempotencyInProgress,
    RateLimited,
    ReadError,
    ReadTimeout,
    ServiceUnavailable,
    TransportError,
    WaitTimeout,
    error_from_response,
)
from vouchers.client._models import Batch, Redemption, ValidationResult, Voucher

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_URL", "UNSET", "Unset", "VoucherClient"]

DEFAULT_URL: Final = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT: Final = 10.0
MAX_PAGE_SIZE: Final = 1000

Mode = Literal["exact", "up_to"]
TimeValue = str | date | datetime


class Unset(Enum):
    """The type of ``UNSET``: "leave this field as it is" in ``update_voucher``."""

    UNSET = "UNSET"


UNSET: Final = Unset.UNSET


def _time(value: TimeValue) -> str:
    """A timestamp or date as the contract reads it (dates mean the whole day)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _segment(value: str) -> str:
    """One path segment, quoted so that no character can change the path."""
    if not value:
        raise ValueError("codes and ids must not be empty")
    return quote(value, safe="").replace(".", "%2E")


ModelT = TypeVar("ModelT")


def _read(parse: Callable[[dict[str, Any]], ModelT], response: requests.Response) -> ModelT:
    """Parse a success answer; DecodingError when it is not what the contract describes."""
    try:
        document = response.json()
        if not isinstance(document, dict):
            raise TypeError(f"expected a JSON object, got {type(document).__name__}")
        return parse(document)
    except (ValueError, KeyError, TypeError) as error:
        raise DecodingError(
            f"unexpected answer to {response.request.method} {response.url} "
            f"(HTTP {response.status_code}): {type(error).__name__}: {error}"
        ) from error


def _page(document: dict[str, Any]) -> dict[str, Any]:
    """Check the shape of one page of a list."""
    items, cursor = document["items"], document["next_cursor"]
    if not isinstance(items, list) or not (cursor is None or isinstance(cursor, str)):
        raise TypeError("a page needs a list of items and a string or null next_cursor")
    return document


def _transport_error(error: requests.RequestException) -> TransportError:
    """Our error for one of requests' exceptions."""
    message = str(error)
    if isinstance(error, requests.ConnectTimeout):
        return ConnectTimeout(message)
    if isinstance(error, requests.ReadTimeout):
        return ReadTimeout(message)
    if isinstance(error, requests.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, NewConnectionError) or isinstance(
            error, requests.exceptions.SSLError
        ):
            return ConnectError(message)
        return ReadError(message)
    return TransportError(message)


class VoucherClient:
    """A client of the voucher service's HTTP API (v1), built on Requests.

    ``api_key`` is sent as a bearer token: the admin key for every route, or the
    redeem key for ``redeem`` and ``validate``. ``timeout`` is in seconds (or a
    ``(connect, read)`` pair) per attempt; ``max_retries`` bounds the retries of
    one call. Use it as a context manager, or call ``close()``, to release its
    connections. Requests does not promise that a session is thread-safe, so
    give each thread its own client.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        backoff: float = 0.2,
        max_retry_wait: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        """Configure the client; nothing is sent until the first call."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = f"vouchers-client/{__version__}"
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> VoucherClient:
        """Use the client in a ``with`` block."""
        return self

    def __exit__(self, *_: object) -> None:
        """Close the client at the end of a ``with`` block."""
        self.close()

    def __repr__(self) -> str:
        """Show where the client points (never the key)."""
        return f"VoucherClient({self.base_url!r})"

    # -- vouchers ---------------------------------------------------------------

    def create_voucher(
        self,
        *,
        max_redemptions: int,
        expires_at: TimeValue,
        code: str | None = None,
        starts_at: TimeValue | None = None,
        per_customer_limit: int | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Voucher:
        """Create one voucher; the service generates the code when none is given."""
        body: dict[str, Any] = {"max_redemptions": max_redemptions, "expires_at": _time(expires_at)}
        if code is not None:
            body["code"] = code
        if starts_at is not None:
            body["starts_at"] = _time(starts_at)
        if per_customer_limit is not None:
            body["per_customer_limit"] = per_customer_limit
        if metadata is not None:
            body["metadata"] = metadata
        response = self._post("/v1/vouchers", body, idempotency_key)
        return _read(Voucher.from_json, response)

    def get_voucher(self, code: str) -> Voucher:
        """One voucher by its code (case-insensitive)."""
        return _read(Voucher.from_json, self._request("GET", f"/v1/vouchers/{_segment(code)}"))

    def list_vouchers(
        self,
        *,
        status: str | None = None,
        batch_id: str | None = None,
        prefix: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Voucher]:
        """Every voucher matching the filters, newest first, fetched a page at a time."""
        params = {"status": status, "batch_id": batch_id, "prefix": prefix}
        for item in self._paged("/v1/vouchers", params, page_size):
            yield Voucher.from_json(item)

    def update_voucher(
        self,
        code: str,
        *,
        max_redemptions: int | Unset = UNSET,
        expires_at: TimeValue | Unset = UNSET,
        starts_at: TimeValue | Unset | None = UNSET,
        per_customer_limit: int | Unset | None = UNSET,
        disabled: bool | Unset = UNSET,
        metadata: dict[str, Any] | Unset = UNSET,
    ) -> Voucher:
        """Change the given fields; ``None`` removes ``starts_at`` or ``per_customer_limit``."""
        body: dict[str, Any] = {}
        if not isinstance(max_redemptions, Unset):
            body["max_redemptions"] = max_redemptions
        if not isinstance(expires_at, Unset):
            body["expires_at"] = _time(expires_at)
        if not isinstance(starts_at, Unset):
            body["starts_at"] = None if starts_at is None else _time(starts_at)
        if not isinstance(per_customer_limit, Unset):
            body["per_customer_limit"] = per_customer_limit
        if not isinstance(disabled, Unset):
            body["disabled"] = disabled
        if not isinstance(metadata, Unset):
            body["metadata"] = metadata
        response = self._request("PATCH", f"/v1/vouchers/{_segment(code)}", json=body)
        return _read(Voucher.from_json, response)

    def delete_voucher(self, code: str) -> None:
        """Delete a voucher that was never redeemed (disable it otherwise)."""
        self._request("DELETE", f"/v1/vouchers/{_segment(code)}")

    # -- redemptions ------------------------------------------------------------

    def redeem(
        self,
        code: str,
        quantity: int = 1,
        mode: Mode = "exact",
        customer_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Redemption:
        """Redeem a voucher: all of ``quantity`` or nothing, or as many as remain (``up_to``)."""
        body = self._redemption_body(quantity, mode, customer_id, metadata)
        response = self._post(f"/v1/vouchers/{_segment(code)}/redemptions", body, idempotency_key)
        return _read(Redemption.from_json, response)

    def validate(
        self,
        code: str,
        quantity: int = 1,
        mode: Mode = "exact",
        customer_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ValidationResult:
        """Dry run of ``redeem``: would it succeed now, and if not, with which error code."""
        body = self._redemption_body(quantity, mode, customer_id, metadata)
        response = self._request(
            "POST", f"/v1/vouchers/{_segment(code)}/validate", json=body, repeatable=True
        )
        return _read(ValidationResult.from_json, response)

    def list_redemptions(self, code: str, *, page_size: int = 100) -> Iterator[Redemption]:
        """A voucher's ledger, newest first, fetched a page at a time."""
        for item in self._paged(f"/v1/vouchers/{_segment(code)}/redemptions", {}, page_size):
            yield Redemption.from_json(item)

    def get_redemption(self, redemption_id: str) -> Redemption:
        """One redemption by id."""
        response = self._request("GET", f"/v1/redemptions/{_segment(redemption_id)}")
        return _read(Redemption.from_json, response)

    def reverse(self, redemption_id: str, *, idempotency_key: str | None = None) -> Redemption:
        """Undo a redemption (a refund); reversing one twice restores nothing twice."""
        path = f"/v1/redemptions/{_segment(redemption_id)}/reversal"
        return _read(Redemption.from_json, self._post(path, None, idempotency_key))

    # -- batches ----------------------------------------------------------------

    def create_batch(
        self,
        count: int,
        *,
        max_redemptions: int,
        expires_at: TimeValue,
        starts_at: TimeValue | None = None,
        per_customer_limit: int | None = None,
        metadata: dict[str, Any] | None = None,
        length: int | None = None,
        alphabet: str | None = None,
        prefix: str | None = None,
        suffix: str | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        """Start generating ``count`` random codes that share the voucher fields given."""
        body: dict[str, Any] = {
            "count": count,
            "max_redemptions": max_redemptions,
            "expires_at": _time(expires_at),
        }
        if starts_at is not None:
            body["starts_at"] = _time(starts_at)
        if per_customer_limit is not None:
            body["per_customer_limit"] = per_customer_limit
        if metadata is not None:
            body["metadata"] = metadata
        code_spec = {
            name: value
            for name, value in (
                ("length", length),
                ("alphabet", alphabet),
                ("prefix", prefix),
                ("suffix", suffix),
            )
            if value is not None
        }
        if code_spec:
            body["code"] = code_spec
        return _read(Batch.from_json, self._post("/v1/batches", body, idempotency_key))

    def get_batch(self, batch_id: str) -> Batch:
        """A batch's status and progress."""
        return _read(Batch.from_json, self._request("GET", f"/v1/batches/{_segment(batch_id)}"))

    def wait_for_batch(
        self,
        batch_id: str,
        *,
        timeout: float | None = 600.0,
        interval: float = 0.5,
        progress: Callable[[Batch], None] | None = None,
    ) -> Batch:
        """Poll a batch until it is done; raise BatchFailed, or WaitTimeout after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = self.get_batch(batch_id)
            if progress is not None:
                progress(batch)
            if batch.status == "failed":
                raise BatchFailed(batch.id, batch.error)
            if batch.status == "done":
                return batch
            if deadline is not None and time.monotonic() + interval > deadline:
                raise WaitTimeout(
                    f"batch {batch_id} is still {batch.status} after {timeout} s "
                    f"({batch.created} of {batch.count} created)"
                )
            time.sleep(interval)

    @overload
    def export_codes(
        self, batch_id: str, file: None = None, *, status: str | None = None
    ) -> Iterator[str]: ...

    @overload
    def export_codes(self, batch_id: str, file: IO[str], *, status: str | None = None) -> int: ...

    def export_codes(
        self, batch_id: str, file: IO[str] | None = None, *, status: str | None = None
    ) -> Iterator[str] | int:
        """A batch's codes as CSV: lines (header first) streamed, or written to ``file``.

        With ``file`` the lines are written with ``\\n`` endings and the number of
        data rows (without the header) is returned. ``status`` keeps only vouchers
        with that status, where the service supports the filter.
        """
        lines = self._export_lines(batch_id, status)
        if file is None:
            return lines
        rows = -1
        for line in lines:
            file.write(line + "\n")
            rows += 1
        return max(rows, 0)

    def _export_lines(self, batch_id: str, status: str | None) -> Iterator[str]:
        params = {"status": status} if status else None
        path = f"/v1/batches/{_segment(batch_id)}/codes"
        response = self._request("GET", path, params=params, stream=True)
        try:
            response.encoding = response.encoding or "utf-8"
            for line in response.iter_lines(decode_unicode=True):
                if line:
                    yield str(line)
        except requests.RequestException as error:
            raise _transport_error(error) from error
        finally:
            response.close()

    # -- plumbing ---------------------------------------------------------------

    @staticmethod
    def _redemption_body(
        quantity: int, mode: Mode, customer_id: str | None, metadata: dict[str, Any] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"quantity": quantity, "mode": mode}
        if customer_id is not None:
            body["customer_id"] = customer_id
        if metadata is not None:
            body["metadata"] = metadata
        return body

    def _paged(
        self, path: str, filters: dict[str, str | None], page_size: int
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {key: value for key, value in filters.items() if value is not None}
        params["limit"] = max(1, min(page_size, MAX_PAGE_SIZE))
        while True:
            page = _read(_page, self._request("GET", path, params=params))
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return
            params["cursor"] = cursor

    def _post(self, path: str, body: Any, idempotency_key: str | None) -> requests.Response:
        """A state-changing POST: always keyed, so every retry is applied at most once."""
        key = idempotency_key or str(uuid.uuid4())
        return self._request("POST", path, json=body, idempotency_key=key, repeatable=True)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        repeatable: bool | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one call, retrying what is safe to retry; raise our errors, never requests'."""
        if repeatable is None:
            repeatable = method == "GET"
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=self.timeout,
                    stream=stream,
                )
            except requests.RequestException as error:
                failure = _transport_error(error)
                retry = isinstance(failure, ConnectError) or repeatable
                if retry and attempt < self.max_retries:
                    attempt += 1
                    time.sleep(self._backoff(attempt))
                    continue
                raise failure from error
            if response.status_code < 400:
                return response
            api_error = error_from_response(response)
            response.close()
            delay = self._retry_delay(api_error, attempt, keyed=idempotency_key is not None)
            if delay is None:
                raise api_error
            attempt += 1
            time.sleep(delay)

    def _retry_delay(self, error: ApiError, attempt: int, *, keyed: bool) -> float | None:
        """How long to wait before retrying after this error, or None not to retry."""
        if attempt >= self.max_retries:
            return None
        if isinstance(error, RateLimited | ServiceUnavailable):
            if error.retry_after is None:
                return self._backoff(attempt + 1)
            if error.retry_after > self.max_retry_wait:
                return None
            return error.retry_after
        if isinstance(error, IdempotencyInProgress) and keyed:
            return self._backoff(attempt + 1)
        return None

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: about backoff, 2x, 4x ... capped."""
        base = self.backoff * (2 ** (attempt - 1))
        return float(min(self.max_retry_wait, base * (0.5 + random.random())))
