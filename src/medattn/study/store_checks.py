"""A damaged study database as one-line errors: SQLite's and JSON's exceptions become ConfigErrors naming the file.

Nothing here repairs, deletes or rewrites a damaged database: the user decides what to do with it.
"""

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from medattn.errors import ConfigError

# Exceptions that mean a bug in medattn (a wrong statement, a broken constraint), not a damaged file: left as they are.
_BUGS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


def database_problem(error: sqlite3.DatabaseError) -> str:
    """What a SQLite error says about the file, and what the user can do."""
    text = " ".join(str(error).split())
    if "full" in text:
        return "no space left on the device; free some space and run the command again (finished runs are kept)"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return f"cannot write the study database ({text}); the study folder must be writable"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"damaged or not a study database ({text}); it was left as it is: move it away to start the study "
            "afresh (finished run directories are reused)"
        )
    return f"cannot use the study database ({text})"


@contextmanager
def database_errors(path: Path) -> Iterator[None]:
    """Turn SQLite errors in the block that say the file is damaged, full or read-only into one-line ConfigErrors."""
    try:
        yield
    except _BUGS:
        raise
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"{path}: {database_problem(error)}") from None


def decode_column(path: Path, key: str, column: str, text: str | None, kind: type | None = dict):
    """A row's JSON column decoded (None stays None); invalid JSON or a value of another kind is a ConfigError."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = ValueError
    if value is ValueError or (kind is not None and not isinstance(value, kind)):
        raise ConfigError(f"{path}: run {key}: its '{column}' column is not valid JSON of a {kind.__name__}; "
                          "the database is damaged")  # fmt: skip
    return value
