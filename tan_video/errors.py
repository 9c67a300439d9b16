"""The one error type for bad user input.

Anything a user can get wrong (a malformed annotation line, a missing or corrupt video, a
checkpoint of the wrong architecture, an unknown model name) raises :class:`InputError` with a
one-line message that names the file (and line or video id). The CLI turns it into that line on
stderr and exit status 2, without a traceback; any other exception is an internal error (1).
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: the message is one line and names the offending file / line / id."""

    def __init__(self, message: str, *, path: object | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class TrainingDiverged(InputError):
    """Training met a non-finite loss or gradient and stopped (exit status 2, one line, no
    traceback). The message names the run, the optimiser step and what to try; the run's last
    checkpoint, written before the bad step, is kept."""
