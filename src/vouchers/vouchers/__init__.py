"""Vouchers: create, read, list, change and delete."""
