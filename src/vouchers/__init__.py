"""A voucher (coupon) redemption service, exact under any load."""

__version__ = "0.1.0"
