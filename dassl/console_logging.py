"""Where the project's log records go: one line each, as ``print`` wrote them, to the current ``sys.stdout``.

Library code (``dassl``, ``trainers``, ``clip``, ``datasets``) logs through ``logging.getLogger(__name__)``.
Importing :mod:`dassl` gives each of these top-level loggers a :class:`StdoutHandler` at level INFO that
writes the bare message (no level, time or logger name) to whatever ``sys.stdout`` is when the record is
emitted. ``train.py`` tees ``sys.stdout`` into ``log.txt`` (:func:`dassl.utils.logger.setup_logger`), so
the console and ``log.txt`` receive the same lines as before, in order with the command line's own prints;
a silenced process (the non-zero ranks of a distributed run) logs nothing; pytest's ``capsys`` sees them.

The records do not propagate to the root logger, so an application that configures logging does not get
every line twice. Less output: ``logging.getLogger("dassl").setLevel(logging.WARNING)`` (or ``"trainers"``,
...); more: ``logging.DEBUG``. Nothing else (the root logger, ``logging.disable``, ``sys.stdout``) is touched.
"""

import logging
import sys

__all__ = ["LIBRARY_LOGGERS", "StdoutHandler", "install_stdout_handlers"]

LIBRARY_LOGGERS = ("dassl", "trainers", "clip", "datasets")


class StdoutHandler(logging.Handler):
    """Write ``message + "\\n"`` to the ``sys.stdout`` of the moment, without flushing (like ``print``)."""

    def emit(self, record):
        try:
            sys.stdout.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def install_stdout_handlers(names=LIBRARY_LOGGERS, level=logging.INFO):
    """Give each named logger one :class:`StdoutHandler` (idempotent). A level set on a logger before is
    kept; otherwise it becomes ``level``."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(h, StdoutHandler) for h in logger.handlers):
            logger.addHandler(StdoutHandler())
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
        logger.propagate = False
