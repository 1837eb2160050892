"""Errors that mean "the user asked for something invalid" (as opposed to a bug)."""


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
