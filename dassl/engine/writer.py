"""TensorBoard writer, or a stand-in that ignores everything when TensorBoard is absent.

TensorBoard (with protobuf) is imported when the first writer is made, not when the engine is imported:
it adds a tenth of a second or more to every start, and evaluation-only runs never write events.
"""

import importlib.util
import sys

__all__ = ["SummaryWriter", "TENSORBOARD_AVAILABLE"]


def _tensorboard_available() -> bool:
    if "torch.utils.tensorboard" in sys.modules:  # imported already, or blocked (``None``)
        return sys.modules["torch.utils.tensorboard"] is not None
    return importlib.util.find_spec("tensorboard") is not None


TENSORBOARD_AVAILABLE = _tensorboard_available()

if TENSORBOARD_AVAILABLE:

    def SummaryWriter(log_dir=None, *args, **kwargs):  # noqa: N802  (stands for the class)
        """``torch.utils.tensorboard.SummaryWriter(log_dir, ...)``, imported on first use."""
        from torch.utils.tensorboard import SummaryWriter as writer_class

        return writer_class(log_dir, *args, **kwargs)

else:  # tensorboard is an optional dependency

    class SummaryWriter:
        """Accepts the calls the engine makes and does nothing."""

        def __init__(self, log_dir=None, *args, **kwargs):
            self.log_dir = log_dir

        def add_scalar(self, *args, **kwargs):
            pass

        def add_scalars(self, *args, **kwargs):
            pass

        def flush(self):
            pass

        def close(self):
            pass
