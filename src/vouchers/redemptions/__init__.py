"""Redemptions: the ledger, idempotency, and the redemption engine."""
