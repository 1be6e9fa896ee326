"""TensorBoard writer, or a stand-in that ignores everything when TensorBoard is absent."""

__all__ = ["SummaryWriter", "TENSORBOARD_AVAILABLE"]

try:
    from torch.utils.tensorboard import SummaryWriter

    TENSORBOARD_AVAILABLE = True
except ImportError:  # tensorboard is an optional dependency
    TENSORBOARD_AVAILABLE = False

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
