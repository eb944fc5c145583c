"""Console sign-in state: the session dependency, CSRF checks, and their failures."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vouchers.auth import Keys
from vouchers.web.forms import FormTooLarge, read_form
from vouchers.web.session import (
    SESSION_COOKIE,
    Session,
    check_csrf,
    derive_secret,
    read_session,
)
from vouchers.web.templating import render

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class SignInRequired(Exception):
    """The console page needs a signed-in session."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Exception):
    """A console POST without this session's CSRF token."""


def session_secret(request: Request) -> bytes:
    """The signing secret of console sessions (derived from the admin key)."""
    keys: Keys = request.app.state.keys
    return derive_secret(keys.admin)


def optional_session(request: Request) -> Session | None:
    """The signed-in session, if the request carries a valid one."""
    return read_session(session_secret(request), request.cookies.get(SESSION_COOKIE))


def console_session(request: Request) -> Session:
    """The signed-in session, or a redirect to the sign-in page."""
    session = optional_session(request)
    if session is None:
        next_path = request.url.path if request.method == "GET" else "/admin"
        if request.method == "GET" and request.url.query:
            next_path += "?" + request.url.query
        raise SignInRequired(next_path)
    return session


SessionDep = Annotated[Session, Depends(console_session)]


async def checked_form(request: Request, session: SessionDep) -> dict[str, str]:
    """The posted form, after checking its CSRF token against the session."""
    form = await read_form(request)
    if not check_csrf(session, form.get(CSRF_FIELD)):
        raise CsrfRejected()
    return form


CheckedFormDep = Annotated[dict[str, str], Depends(checked_form)]


def safe_next(path: str | None) -> str:
    """Only console paths of this site are followed after sign-in."""
    if path and path.startswith("/admin") and "//" not in path and "\\" not in path:
        return path
    return "/admin"


async def on_sign_in_required(request: Request, error: Exception) -> Response:
    """Send the browser to the sign-in page, remembering where it was going."""
    assert isinstance(error, SignInRequired)
    target = "/admin/sign-in"
    if error.next_path not in ("/admin", "/admin/"):
        target += "?next=" + quote(error.next_path, safe="/")
    return RedirectResponse(target, status_code=303)


async def on_csrf_rejected(request: Request, error: Exception) -> HTMLResponse:
    """A 403 page for a form that did not carry this session's token."""
    return render(
        request,
        "error.html",
        {
            "title": "This form has expired",
            "message": "The form did not carry a valid security token: it may be from an old "
            "page or from another site. Nothing was changed.",
            "advice": "Go back, reload the page, and try again.",
            "back": "/admin",
        },
        403,
    )


async def on_form_too_large(request: Request, error: Exception) -> HTMLResponse:
    """A 413 page for a form larger than any form of ours."""
    return render(
        request,
        "error.html",
        {
            "title": "Form too large",
            "message": "That form was larger than any form on this site. Nothing was changed.",
            "advice": "Go back and try again.",
            "back": "/",
        },
        413,
    )


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CheckedFormDep",
    "CsrfRejected",
    "FormTooLarge",
    "SessionDep",
    "SignInRequired",
    "checked_form",
    "console_session",
    "on_csrf_rejected",
    "on_form_too_large",
    "on_sign_in_required",
    "optional_session",
    "safe_next",
    "session_secret",
]
