"""contactcore: an open-source contact center on real Asterisk."""

__version__ = "0.1.0"
