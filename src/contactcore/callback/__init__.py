"""Callbacks instead of waiting: virtual hold, scheduling, retries."""
