"""Entry point kept from the prototype: `uvicorn server:app --reload` serves the service."""

from vouchers.app import create_app

app = create_app()
