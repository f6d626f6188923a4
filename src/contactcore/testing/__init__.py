"""Test support: fakes of our own ports and builders. Never used in production code."""
