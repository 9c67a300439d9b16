"""Lightning without its informational chatter, for training and for multi-process evaluation."""

from __future__ import annotations

import contextlib
import logging


@contextlib.contextmanager
def quiet_lightning():
    """Silence Lightning's informational lines (GPU/TPU availability, tips and advertisements, loader
    notes); its warnings still go through :mod:`warnings` and are shown."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch.utilities.rank_zero",
                                                    "lightning.fabric.utilities.rank_zero",
                                                    "lightning.fabric.utilities.distributed")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
