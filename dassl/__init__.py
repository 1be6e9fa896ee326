"""Dassl-compatible training engine for CLIP prompt tuning.

Module paths, names, log lines and checkpoint layout follow Dassl.pytorch so
that trainers and datasets written against it run unchanged. Importing this
package leaves stdout, the random state and the root logger alone; it only
points the project's own loggers at stdout (:mod:`dassl.console_logging`), so
their lines appear where ``print`` put them.
"""

from dassl.console_logging import install_stdout_handlers

__version__ = "0.6.3"

install_stdout_handlers()
