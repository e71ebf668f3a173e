"""The one error type for bad input files: it always names the file and, where known, the line."""

from __future__ import annotations


class DataFormatError(ValueError):
    """Raised for malformed input; the message reads ``file:line: problem``."""

    def __init__(self, path: object, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")
