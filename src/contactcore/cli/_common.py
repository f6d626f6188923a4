"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse

from contactcore.settings import Settings, load_settings


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))
