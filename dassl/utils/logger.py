"""Tee of stdout into ``log.txt`` (the file that result parsers read)."""

import os
import os.path as osp
import sys
import time

from dassl.run_dir import LOG_FILE

from .tools import mkdir_if_missing

__all__ = ["Logger", "setup_logger"]


class Logger:
    """Write everything printed to both the console and a file.

    Only the file is ever closed: the console stream belongs to the process.
    """

    def __init__(self, fpath=None):
        self.file = None
        self.console = sys.stdout
        if fpath is not None:
            mkdir_if_missing(osp.dirname(fpath))
            self.file = open(fpath, "w")

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()

    def write(self, msg):
        self.console.write(msg)
        if self.file is not None and not self.file.closed:
            self.file.write(msg)

    def flush(self):
        self.console.flush()
        if self.file is not None and not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())

    def isatty(self):
        return False

    def __getattr__(self, name):
        # Attributes such as ``encoding`` or ``fileno`` come from the console.
        if name in ("console", "file"):
            raise AttributeError(name)
        return getattr(self.console, name)

    def close(self):
        if self.file is not None and not self.file.closed:
            self.file.close()


def setup_logger(output=None):
    """Replace ``sys.stdout`` by a :class:`Logger` writing to ``output``.

    ``output`` is a file path when it ends in ``.txt``/``.log``, otherwise a
    directory that receives ``log.txt``. An existing log is kept untouched and
    the new one gets a ``-YYYY-MM-DD-HH-MM-SS`` suffix, so the first
    ``log.txt`` of an output folder is the one parsers read. Returns the
    logger (None when ``output`` is None); restore ``logger.console`` into
    ``sys.stdout`` to undo.
    """
    if output is None:
        return None
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = osp.join(output, LOG_FILE)
    if osp.exists(fpath):
        fpath += time.strftime("-%Y-%m-%d-%H-%M-%S")
    logger = Logger(fpath)
    sys.stdout = logger
    return logger
