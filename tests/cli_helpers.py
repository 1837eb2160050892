"""Calling the ``medattn`` entry point in-process and reading its exit code and output."""

import sys

import pytest

from medattn import cli


def run_cli(capsys, monkeypatch, *argv) -> tuple[int, str, str]:
    """``medattn ARGV...`` through ``cli.main``: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["medattn", *map(str, argv)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err
