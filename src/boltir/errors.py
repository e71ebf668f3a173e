"""boltir's error types. Every error the package raises on purpose derives from :class:`BoltirError`, so a
caller can catch the package's own errors in one place (and the command line tells them from bugs: any other
exception is shown as a bug, with its traceback); each also keeps the built-in base its callers expect
(``ValueError`` for bad input, ``KeyError`` for a missing name, ``RuntimeError`` for a broken index)."""

from __future__ import annotations


class BoltirError(Exception):
    """Root of boltir's own errors."""


class DataFormatError(BoltirError, ValueError):
    """Malformed input; the message reads ``file:line: problem``."""

    def __init__(self, path: object, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class InvalidIndexError(BoltirError, RuntimeError):
    """An index folder is missing, incomplete, corrupted, locked, or does not match what it is used with."""


class FamilyError(BoltirError, ValueError):
    """A model folder or name does not fit the family asked for, or names no registered family."""


class ModelNotFoundError(BoltirError, FileNotFoundError):
    """A model given by name is neither a folder, a short name nor loadable from the Hub."""


class OutputError(BoltirError, OSError):
    """An output path cannot be written (it is a directory, or its folder cannot be made)."""


class TeacherError(BoltirError, RuntimeError):
    """A teacher (LLM back-end) failed to give a usable answer."""


class ConfigError(BoltirError, ValueError):
    """A setting, option or argument has a value boltir cannot use; the message names it and what is allowed."""


class MissingDataError(BoltirError, KeyError):
    """Something named is not in the data: a dataset, a run, a metric's run, or texts for ids of a run."""

    def __str__(self) -> str:  # the message as written (KeyError would quote it)
        return str(self.args[0]) if self.args else ""


class CheckpointError(BoltirError, RuntimeError):
    """A checkpoint's weights do not fit the model built for them (missing or unexpected tensors)."""


class UnsupportedError(BoltirError, TypeError):
    """An object boltir cannot work with: a tokenizer without a fast backend, a stage that is neither a retriever
    nor a re-ranker."""
