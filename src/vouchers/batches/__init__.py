"""Bulk generation: batches of random, unique voucher codes and their CSV export."""
