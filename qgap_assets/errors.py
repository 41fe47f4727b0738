"""One exception type per failure family. The CLI maps families to exit codes:
bad input or config -> 2, everything else -> 1."""

from __future__ import annotations


class QgapError(Exception):
    """Base of every error qgap raises on purpose."""

    exit_code = 1


class InputValidationError(QgapError):
    """Input data broke a rule. The message names the column, the rule and offending rows."""

    exit_code = 2


class ConfigError(QgapError):
    """A config file or option is invalid. The message names the field and the rule."""

    exit_code = 2


class LedgerError(QgapError):
    """The ledger could not be read or written (database down, schema mismatch, ...)."""

    exit_code = 1


class LedgerIntegrityError(LedgerError):
    """The hash chain or an append-only guarantee is broken."""


class SchemaVersionError(LedgerError):
    """The database schema is not at the revision this code expects."""
