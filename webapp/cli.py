"""Command-line groups: `flask --app webapp demo|bpmn|workflows|catalogue|audit ...`."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import click
from flask import Flask


def register(app: Flask) -> None:
    """Each module in webapp/commands/ exposes `group` (a click group) and is added here."""
    package = Path(__file__).resolve().parent / "commands"
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda i: i.name):
        module = importlib.import_module(f"webapp.commands.{info.name}")
        group = getattr(module, "group", None)
        if isinstance(group, click.Group):
            app.cli.add_command(group)
