"""Errors a user can act on: each message names the bad input and what to do about it."""


class KgError(Exception):
    """Base of every error kg reports to the user without a traceback."""

    exit_code = 1


class ConfigError(KgError):
    pass


class GraphUnavailable(KgError):
    pass


class GraphAuthError(KgError):
    pass


class VectorStoreError(KgError):
    pass


class MigrationError(KgError):
    pass


class InputError(KgError):
    """Bad user input (file, format, id); exit code 2 like click's usage errors."""

    exit_code = 2


class QueryTimeout(KgError):
    """A query ran past its time limit and was stopped."""
