"""The ``medattn`` command line: ``app`` (typer) with one module per command group; thin, it parses,
calls the library and prints (``output``: tables, ``--json``)."""

from medattn.cli.app import app, main

__all__ = ["app", "main"]
