"""The web console for administrators and the public redeem page, served by the API's app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from vouchers.web.auth import (
    CsrfRejected,
    FormTooLarge,
    SignInRequired,
    on_csrf_rejected,
    on_form_too_large,
    on_sign_in_required,
)
from vouchers.web.batches import router as batches_router
from vouchers.web.console import router as console_router
from vouchers.web.public import router as public_router
from vouchers.web.security import SecurityHeadersMiddleware

STATIC_DIR = Path(__file__).parent / "static"

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Serve the console (/admin), the public page (/) and their static files (/static)."""
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(CsrfRejected, on_csrf_rejected)
    app.add_exception_handler(FormTooLarge, on_form_too_large)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(public_router)
    app.include_router(console_router)
    app.include_router(batches_router)
