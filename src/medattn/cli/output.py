"""Shared printing for the command line: a rich table for people, one JSON object with ``--json``."""

import json

from rich.console import Console
from rich.table import Table

console = Console()


def emit(data, as_json: bool, table: Table | None = None) -> None:
    """Print ``data`` as JSON, or ``table`` for people."""
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        console.print(table)
