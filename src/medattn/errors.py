"""Errors that mean "the user asked for something invalid" (as opposed to a bug)."""

import errno


class ConfigError(ValueError):
    """Invalid user input: unknown name, incompatible combination, unusable file.

    The message is one line that names the option or file and the problem; the CLI prints it
    and exits with code 2.
    """


def choose(kind: str, value: str, valid) -> str:
    """Return ``value`` if it is one of ``valid``, else raise a ConfigError listing the choices."""
    valid = list(valid)
    if value not in valid:
        raise ConfigError(f"unknown {kind} '{value}'; choose one of: {', '.join(valid)}")
    return value


_OS_ERROR_HINTS = {
    errno.ENOSPC: "no space left on the device; free some space and run the command again (finished files are kept)",
    errno.EDQUOT: "disk quota exceeded; free some space and run the command again (finished files are kept)",
    errno.EROFS: "read-only file system; choose a writable folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EEXIST: "already exists and is not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "name too long for the file system",
}


def os_error_message(error: OSError) -> str:
    """One line naming the path and the problem of an operating-system error (disk full, read-only, not a folder)."""
    problem = _OS_ERROR_HINTS.get(error.errno) or error.strerror or str(error) or type(error).__name__
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    return " ".join(f"{' -> '.join(paths) + ': ' if paths else ''}{problem}".split())
