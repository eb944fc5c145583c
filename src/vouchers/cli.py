"""The `vouchers` command line: run the service, and manage vouchers through its HTTP API.

Exit status: 0 on success, 1 when the service refused the request (its error
code and detail go to stderr) or could not be reached, 2 on a usage error.
Client commands import only the client library, so they start quickly.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, TextIO

from vouchers.client import (
    UNSET,
    ApiError,
    Batch,
    CodeTaken,
    ConnectError,
    Forbidden,
    RateLimited,
    Redemption,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    Unset,
    ValidationError,
    Voucher,
    VoucherClient,
    VouchersError,
)

DEFAULT_URL = "http://127.0.0.1:8000"
STATUSES = ("active", "scheduled", "expired", "exhausted", "disabled")
IMPORT_REQUIRED = ("code", "max_redemptions", "expires_at")
IMPORT_OPTIONAL = ("starts_at", "per_customer_limit", "metadata")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Errors that would fail every later row of an import too: stop there, loudly.
STOP_IMPORT_ON = (Unauthorized, Forbidden, RateLimited, ServiceUnavailable)


# -- serve and migrate (server side: imported only when used) ---------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Migrate, make sure an admin key exists, then serve with uvicorn."""
    from vouchers.serving import serve

    return serve(args)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database schema up to date."""
    from vouchers.serving import migrate_database

    return migrate_database(args)


# -- output -----------------------------------------------------------------------


def _stamp(value: Any) -> str:
    """A timestamp (or anything) as a table cell."""
    if value is None:
        return "-"
    if hasattr(value, "isoformat"):
        return str(value.isoformat()).replace("+00:00", "Z")
    return str(value)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], out: TextIO) -> None:
    """Print rows as aligned columns under a header."""
    materialised = [list(map(str, row)) for row in rows]
    widths = [len(header) for header in headers]
    for row in materialised:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    for row in [list(headers), *materialised]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(),
            file=out,
        )


def print_fields(document: dict[str, Any], out: TextIO) -> None:
    """Print one object as 'name: value' lines."""
    width = max((len(name) for name in document), default=0)
    for name, value in document.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else _stamp(value)
        print(f"{name.ljust(width)}  {shown}", file=out)


def print_json(document: Any, out: TextIO) -> None:
    """Print a JSON document for scripts."""
    print(json.dumps(document, indent=2, ensure_ascii=False), file=out)


class Progress:
    """A small progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None) -> None:
        """Start a bar; ``total`` may be unknown (None)."""
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._drawn_at = 0.0

    def update(self, done: int, total: int | None = None) -> None:
        """Set how much is done (and the total, if it became known)."""
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.enabled and (now - self._drawn_at > 0.1 or done == self.total):
            self._drawn_at = now
            self._draw()

    def advance(self, step: int = 1) -> None:
        """Add to how much is done."""
        self.update(self.done + step)

    def _draw(self) -> None:
        if self.total:
            share = min(1.0, self.done / self.total)
            bar = ("#" * int(share * 30)).ljust(30)
            text = f"\r{self.label} [{bar}] {share:4.0%} {self.done}/{self.total}"
        else:
            text = f"\r{self.label} {self.done}"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        """Finish the bar's line."""
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


VOUCHER_COLUMNS = ("CODE", "STATUS", "REDEEMED", "MAX", "REMAINING", "EXPIRES_AT")
REDEMPTION_COLUMNS = ("ID", "QUANTITY", "CUSTOMER", "REMAINING", "CREATED_AT", "REVERSED_AT")


def voucher_row(voucher: Voucher) -> list[str]:
    """A voucher as a table row."""
    return [
        voucher.code,
        voucher.status,
        str(voucher.redeemed),
        str(voucher.max_redemptions),
        str(voucher.remaining),
        _stamp(voucher.expires_at),
    ]


def redemption_row(redemption: Redemption) -> list[str]:
    """A redemption as a table row."""
    return [
        redemption.id,
        str(redemption.quantity),
        redemption.customer_id or "-",
        str(redemption.remaining),
        _stamp(redemption.created_at),
        _stamp(redemption.reversed_at),
    ]


def show(args: argparse.Namespace, document: dict[str, Any]) -> None:
    """Print one object: JSON for scripts, 'name: value' lines for people."""
    if args.json:
        print_json(document, sys.stdout)
    else:
        print_fields(document, sys.stdout)


# -- argument types ------------------------------------------------------------------


def json_object(text: str) -> dict[str, Any]:
    """An argparse type: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, such as \'{"campaign": "x"}\'')
    return value


def int_or_none(text: str) -> int | None:
    """An argparse type: an integer, or 'none' to remove the value."""
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from error


def str_or_none(text: str) -> str | None:
    """An argparse type: a value, or 'none' to remove it."""
    return None if text.lower() == "none" else text


# -- voucher commands -----------------------------------------------------------------


def cmd_create(args: argparse.Namespace, client: VoucherClient) -> int:
    """Create one voucher."""
    voucher = client.create_voucher(
        code=args.code,
        max_redemptions=args.max_redemptions,
        expires_at=args.expires,
        starts_at=args.starts,
        per_customer_limit=args.per_customer_limit,
        metadata=args.metadata,
    )
    show(args, voucher.to_dict())
    return EXIT_OK


def cmd_get(args: argparse.Namespace, client: VoucherClient) -> int:
    """Show one voucher."""
    show(args, client.get_voucher(args.code).to_dict())
    return EXIT_OK


def cmd_list(args: argparse.Namespace, client: VoucherClient) -> int:
    """List vouchers, newest first."""
    page_size = args.limit if 0 < args.limit <= 1000 else 1000
    found: Iterator[Voucher] = client.list_vouchers(
        status=args.status, batch_id=args.batch, prefix=args.prefix, page_size=page_size
    )
    vouchers = list(islice(found, args.limit) if args.limit > 0 else found)
    if args.json:
        print_json([voucher.to_dict() for voucher in vouchers], sys.stdout)
    else:
        print_table(VOUCHER_COLUMNS, map(voucher_row, vouchers), sys.stdout)
    return EXIT_OK


def cmd_update(args: argparse.Namespace, client: VoucherClient) -> int:
    """Change some fields of a voucher."""
    changes: dict[str, Any] = {}
    for option, name in (
        ("max_redemptions", "max_redemptions"),
        ("expires", "expires_at"),
        ("starts", "starts_at"),
        ("per_customer_limit", "per_customer_limit"),
        ("metadata", "metadata"),
        ("disabled", "disabled"),
    ):
        value = getattr(args, option)
        if not isinstance(value, Unset):
            changes[name] = value
    if not changes:
        args.parser.error("nothing to change: give at least one option (see --help)")
    show(args, client.update_voucher(args.code, **changes).to_dict())
    return EXIT_OK


def cmd_delete(args: argparse.Namespace, client: VoucherClient) -> int:
    """Delete a voucher that was never redeemed."""
    client.delete_voucher(args.code)
    if args.json:
        print_json({"deleted": args.code}, sys.stdout)
    else:
        print(f"deleted {args.code}")
    return EXIT_OK


# -- redemption commands ------------------------------------------------------------


def cmd_redeem(args: argparse.Namespace, client: VoucherClient) -> int:
    """Redeem a voucher."""
    redemption = client.redeem(
        args.code,
        quantity=args.quantity,
        mode=args.mode,
        customer_id=args.customer,
        metadata=args.metadata,
        idempotency_key=args.idempotency_key,
    )
    show(args, redemption.to_dict())
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, client: VoucherClient) -> int:
    """Dry-run a redemption; exit 1 when it would be refused."""
    result = client.validate(
        args.code, quantity=args.quantity, mode=args.mode, customer_id=args.customer
    )
    if args.json:
        print_json(result.to_dict(), sys.stdout)
    elif result.valid:
        print(f"{args.code}: valid ({result.remaining} remaining)")
    else:
        print(f"{args.code}: not valid: {result.code}")
    return EXIT_OK if result.valid else EXIT_FAILED


def cmd_redemptions(args: argparse.Namespace, client: VoucherClient) -> int:
    """List a voucher's redemptions, newest first."""
    page_size = args.limit if 0 < args.limit <= 1000 else 1000
    found = client.list_redemptions(args.code, page_size=page_size)
    redemptions = list(islice(found, args.limit) if args.limit > 0 else found)
    if args.json:
        print_json([redemption.to_dict() for redemption in redemptions], sys.stdout)
    else:
        print_table(REDEMPTION_COLUMNS, map(redemption_row, redemptions), sys.stdout)
    return EXIT_OK


def cmd_reverse(args: argparse.Namespace, client: VoucherClient) -> int:
    """Reverse (refund) a redemption."""
    show(args, client.reverse(args.id).to_dict())
    return EXIT_OK


# -- batch commands -------------------------------------------------------------------


def cmd_batch_create(args: argparse.Namespace, client: VoucherClient) -> int:
    """Start a batch and, unless --no-wait, follow it to the end with a progress bar."""
    batch = client.create_batch(
        args.count,
        max_redemptions=args.max_redemptions,
        expires_at=args.expires,
        starts_at=args.starts,
        per_customer_limit=args.per_customer_limit,
        metadata=args.metadata,
        length=args.length,
        alphabet=args.alphabet,
        prefix=args.prefix,
        suffix=args.suffix,
    )
    if not args.no_wait and not batch.finished:
        progress = Progress(f"batch {batch.id}", batch.count)

        def report(current: Batch) -> None:
            progress.update(current.created, current.count)

        try:
            batch = client.wait_for_batch(batch.id, timeout=args.wait_timeout, progress=report)
        finally:
            progress.close()
    show(args, batch.to_dict())
    return EXIT_OK


def cmd_batch_status(args: argparse.Namespace, client: VoucherClient) -> int:
    """Show a batch's status."""
    show(args, client.get_batch(args.id).to_dict())
    return EXIT_OK


def cmd_batch_export(args: argparse.Namespace, client: VoucherClient) -> int:
    """Write a batch's codes as CSV to stdout, or to a file that appears only when complete."""
    to_file = bool(args.output) and args.output != "-"
    lines = client.export_codes(args.id)
    header = next(lines, None)  # any error (batch_not_found ...) comes before a file is touched
    total = client.get_batch(args.id).count if sys.stderr.isatty() else None
    progress = Progress("export", total)
    rows = 0

    def write_all(out: IO[str]) -> None:
        nonlocal rows
        if header is not None:
            out.write(header + "\n")
        for line in lines:
            out.write(line + "\n")
            rows += 1
            progress.advance()

    try:
        if to_file:
            target = Path(args.output)
            partial = target.with_name(target.name + ".part")
            try:
                with partial.open("w", newline="", encoding="utf-8") as out:
                    write_all(out)
                partial.replace(target)
            except OSError as error:
                print(f"vouchers: cannot write {args.output}: {error.strerror}", file=sys.stderr)
                return EXIT_FAILED
            finally:
                partial.unlink(missing_ok=True)
        else:
            write_all(sys.stdout)
            sys.stdout.flush()
    finally:
        progress.close()
    if to_file:
        print(f"wrote {rows} codes to {args.output}", file=sys.stderr)
    return EXIT_OK


# -- import -------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did, row by row."""

    total: int = 0
    created: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    stopped_at: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The report for --json."""
        return {
            "total": self.total,
            "created": len(self.created),
            "skipped": self.skipped,
            "failed": self.failed,
            "stopped_at_line": self.stopped_at,
            "codes": self.created,
        }


class RowError(ValueError):
    """A CSV row that cannot become a request."""


def _cell(row: dict[str, str | None], name: str) -> str | None:
    value = row.get(name)
    return value.strip() or None if value is not None else None


def _int_cell(row: dict[str, str | None], name: str) -> int | None:
    text = _cell(row, name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError as error:
        raise RowError(f"{name}: {text!r} is not a whole number") from error


def voucher_fields(row: dict[str, str | None]) -> dict[str, Any]:
    """The create_voucher arguments of one CSV row; RowError when a cell is unusable."""
    if None in row:
        raise RowError("more cells than columns in the header")
    max_redemptions = _int_cell(row, "max_redemptions")
    if max_redemptions is None:
        raise RowError("max_redemptions is empty")
    expires_at = _cell(row, "expires_at")
    if expires_at is None:
        raise RowError("expires_at is empty")
    fields: dict[str, Any] = {
        "code": _cell(row, "code"),
        "max_redemptions": max_redemptions,
        "expires_at": expires_at,
        "starts_at": _cell(row, "starts_at"),
        "per_customer_limit": _int_cell(row, "per_customer_limit"),
    }
    metadata = _cell(row, "metadata")
    if metadata is not None:
        try:
            fields["metadata"] = json_object(metadata)
        except argparse.ArgumentTypeError as error:
            raise RowError(f"metadata: {error}") from error
    return fields


def _details(error: ApiError) -> str:
    """An error's detail, with the wrong fields of a validation error."""
    text = error.detail
    if isinstance(error, ValidationError) and error.errors:
        text += " (" + "; ".join(f"{e['field']}: {e['message']}" for e in error.errors) + ")"
    return text


def _describe(error: ApiError) -> str:
    """An error as 'code: detail'."""
    return f"{error.code}: {_details(error)}"


def cmd_import(args: argparse.Namespace, client: VoucherClient) -> int:
    """Create a voucher for each row of a CSV file; report every failed row by line number."""
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        print(f"vouchers: cannot read {args.file}: {error}", file=sys.stderr)
        return EXIT_FAILED
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in IMPORT_REQUIRED if name not in header]
    unknown = [name for name in header if name not in IMPORT_REQUIRED + IMPORT_OPTIONAL]
    if missing or unknown:
        problems = []
        if missing:
            problems.append("missing column(s): " + ", ".join(missing))
        if unknown:
            problems.append("unknown column(s): " + ", ".join(unknown))
        print(
            f"vouchers: {args.file}: {'; '.join(problems)}. The header must be "
            f"{','.join(IMPORT_REQUIRED)}[,{','.join(IMPORT_OPTIONAL)}]; nothing was imported.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str | None]]] = []
    for row in reader:
        if any((value or "").strip() for value in row.values() if isinstance(value, str)):
            rows.append((reader.line_num, row))
    report = ImportReport(total=len(rows))
    progress = Progress("import", len(rows))
    line = 0

    def fail(line: int, code: str | None, error: str, detail: str) -> None:
        report.failed.append({"line": line, "code": code, "error": error, "detail": detail})
        print(f"line {line}: {error}: {detail}", file=sys.stderr)

    try:
        for line, row in rows:
            code = _cell(row, "code")
            try:
                voucher = client.create_voucher(**voucher_fields(row))
            except RowError as error:
                fail(line, code, "invalid_row", str(error))
            except CodeTaken as error:
                if args.skip_existing:
                    report.skipped.append({"line": line, "code": code})
                else:
                    fail(line, code, error.code, error.detail)
            except ApiError as error:
                fail(line, code, error.code, _details(error))
                if isinstance(error, STOP_IMPORT_ON):
                    report.stopped_at = line
                    break
            else:
                report.created.append(voucher.code)
            progress.advance()
    except TransportError as error:
        report.stopped_at = line
        print(f"line {line}: {_transport_message(args.url, error)}", file=sys.stderr)
    except KeyboardInterrupt:
        report.stopped_at = line
        print(
            f"line {line}: interrupted; this row may or may not have been created", file=sys.stderr
        )
    finally:
        progress.close()
    attempted = len(report.created) + len(report.skipped) + len(report.failed)
    not_attempted = report.total - attempted
    summary = f"imported {len(report.created)} of {report.total} rows"
    if report.skipped:
        summary += f", {len(report.skipped)} skipped (code exists)"
    if report.failed:
        summary += f", {len(report.failed)} failed"
    if not_attempted:
        noun = "row" if not_attempted == 1 else "rows"
        summary += f"; stopped at line {report.stopped_at}: {not_attempted} {noun} not attempted"
    if args.json:
        print_json(report.as_json(), sys.stdout)
    print(summary, file=sys.stderr)
    return EXIT_FAILED if report.failed or not_attempted else EXIT_OK


# -- the parser -------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--url, --key and --json, accepted before or after the command name."""
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--url",
        default=(os.environ.get("VOUCHERS_URL") or DEFAULT_URL) if top else default,
        help=f"the service's base URL (env VOUCHERS_URL; default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--key",
        default=default,
        help="API key (env VOUCHERS_ADMIN_KEY; else the server's data/admin_key file)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print JSON for scripts instead of tables",
    )


def _voucher_options(parser: argparse.ArgumentParser, *, update: bool) -> None:
    """The voucher fields shared by create, update and batch create."""
    keep: Any = UNSET if update else None
    parser.add_argument(
        "--max-redemptions", type=int, required=not update, default=keep, metavar="N"
    )
    parser.add_argument(
        "--expires",
        required=not update,
        default=keep,
        help="RFC 3339 timestamp with offset, or YYYY-MM-DD (valid through that day)",
    )
    parser.add_argument(
        "--starts",
        type=str_or_none if update else str,
        default=keep,
        help="RFC 3339 timestamp or YYYY-MM-DD" + ("; 'none' removes it" if update else ""),
    )
    parser.add_argument(
        "--per-customer-limit",
        type=int_or_none if update else int,
        default=keep,
        help="redemptions allowed per customer" + ("; 'none' removes it" if update else ""),
    )
    parser.add_argument("--metadata", type=json_object, default=keep, help="a JSON object")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="vouchers", description="Voucher service: serve it, or manage vouchers."
    )
    _global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(handler=cmd_serve, client_command=False)
    migrate_parser = commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate_parser.set_defaults(handler=cmd_migrate, client_command=False)

    def client_command(name: str, handler: Callable[..., int], help_text: str) -> Any:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, top=False)
        sub.set_defaults(handler=handler, client_command=True, parser=sub)
        return sub

    create = client_command("create", cmd_create, "create a voucher")
    create.add_argument("--code", help="the code (generated when absent)")
    _voucher_options(create, update=False)

    get = client_command("get", cmd_get, "show a voucher")
    get.add_argument("code")

    listing = client_command("list", cmd_list, "list vouchers, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--prefix", help="code prefix")
    listing.add_argument("--batch", help="batch id")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (0: all)")

    update = client_command("update", cmd_update, "change a voucher")
    update.add_argument("code")
    _voucher_options(update, update=True)
    switch = update.add_mutually_exclusive_group()
    switch.add_argument(
        "--disable", dest="disabled", action="store_const", const=True, help="stop redemptions"
    )
    switch.add_argument(
        "--enable", dest="disabled", action="store_const", const=False, help="allow them again"
    )
    update.set_defaults(disabled=UNSET)

    delete = client_command("delete", cmd_delete, "delete a voucher that was never redeemed")
    delete.add_argument("code")

    for name, handler, help_text in (
        ("redeem", cmd_redeem, "redeem a voucher"),
        ("validate", cmd_validate, "check whether a redemption would succeed (exit 1 if not)"),
    ):
        sub = client_command(name, handler, help_text)
        sub.add_argument("code")
        sub.add_argument("--quantity", type=int, default=1)
        sub.add_argument("--mode", choices=("exact", "up_to"), default="exact")
        sub.add_argument("--customer", help="customer id")
        if name == "redeem":
            sub.add_argument("--metadata", type=json_object, help="a JSON object")
            sub.add_argument("--idempotency-key", help="default: a fresh one, reused on retries")

    redemptions = client_command("redemptions", cmd_redemptions, "list a voucher's redemptions")
    redemptions.add_argument("code")
    redemptions.add_argument("--limit", type=int, default=50, help="at most this many (0: all)")

    reverse = client_command("reverse", cmd_reverse, "reverse (refund) a redemption")
    reverse.add_argument("id")

    batch = commands.add_parser("batch", help="generate many codes at once")
    batch_commands = batch.add_subparsers(dest="batch_command", required=True, metavar="ACTION")

    def batch_command(name: str, handler: Callable[..., int], help_text: str) -> Any:
        sub = batch_commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, top=False)
        sub.set_defaults(handler=handler, client_command=True, parser=sub)
        return sub

    batch_create = batch_command("create", cmd_batch_create, "generate random codes")
    batch_create.add_argument("--count", type=int, required=True)
    _voucher_options(batch_create, update=False)
    batch_create.add_argument("--length", type=int, help="code length (6-32, default 12)")
    batch_create.add_argument("--alphabet", help="symbols to draw from")
    batch_create.add_argument("--prefix", help="text before each code")
    batch_create.add_argument("--suffix", help="text after each code")
    batch_create.add_argument("--no-wait", action="store_true", help="return once accepted")
    batch_create.add_argument(
        "--wait-timeout", type=float, default=3600.0, help="seconds to wait (default 3600)"
    )
    batch_status = batch_command("status", cmd_batch_status, "show a batch's progress")
    batch_status.add_argument("id")
    batch_export = batch_command("export", cmd_batch_export, "write a batch's codes as CSV")
    batch_export.add_argument("id")
    batch_export.add_argument("-o", "--output", help="file to write (default: stdout)")

    importing = client_command("import", cmd_import, "create vouchers from a CSV file")
    importing.add_argument(
        "file",
        help="CSV with header code,max_redemptions,expires_at"
        "[,starts_at,per_customer_limit,metadata] ('-' for stdin)",
    )
    importing.add_argument(
        "--skip-existing", action="store_true", help="count rows whose code exists as skipped"
    )
    return parser


# -- running ----------------------------------------------------------------------------


def resolve_key(given: str | None) -> str | None:
    """--key, else VOUCHERS_ADMIN_KEY, else the key the server stored in its data directory."""
    if given:
        return given
    if os.environ.get("VOUCHERS_ADMIN_KEY"):
        return os.environ["VOUCHERS_ADMIN_KEY"]
    path = Path(os.environ.get("VOUCHERS_DATA_DIR") or "data") / "admin_key"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _transport_message(url: str, error: TransportError) -> str:
    if isinstance(error, ConnectError):
        return (
            f"cannot reach the voucher service at {url}. Is it running (`vouchers serve`)? "
            "Point --url or VOUCHERS_URL at it."
        )
    return (
        f"the connection to {url} failed before an answer came ({type(error).__name__}); "
        "the request may or may not have taken effect. Check, then retry."
    )


def report_error(args: argparse.Namespace, error: VouchersError) -> int:
    """Print an error for people (stderr) and, with --json, for scripts (stdout)."""
    if isinstance(error, ApiError):
        print(f"vouchers: error: {_describe(error)}", file=sys.stderr)
        if isinstance(error, Unauthorized):
            print("vouchers: pass the admin key with --key or VOUCHERS_ADMIN_KEY.", file=sys.stderr)
        if error.request_id:
            print(f"vouchers: request id {error.request_id}", file=sys.stderr)
        if args.json:
            print_json(error.body or {"status": error.status, "code": error.code}, sys.stdout)
    elif isinstance(error, TransportError):
        print(f"vouchers: error: {_transport_message(args.url, error)}", file=sys.stderr)
    else:
        print(f"vouchers: error: {error}", file=sys.stderr)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    args = build_parser().parse_args(argv)
    if not args.client_command:
        result: int = args.handler(args)
        return result
    try:
        with VoucherClient(args.url, resolve_key(args.key)) as client:
            code: int = args.handler(args, client)
            return code
    except VouchersError as error:
        return report_error(args, error)
    except KeyboardInterrupt:
        print("vouchers: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
