"""Which device a run uses, said plainly, and never a silent CPU fallback.

``USE_CUDA True`` (the default) asks for the GPU. When CUDA works the run uses it; when no GPU is visible
the run uses the CPU and says so; when a GPU *is* visible but this PyTorch cannot use it (typically a
wheel built for a newer CUDA than the installed driver supports), the run stops with an error that names
both versions and the fix, instead of starting a multi-day CPU run. ``USE_CUDA False`` chooses the CPU.
"""

from __future__ import annotations

import glob
import os
import re
import shutil

import torch

__all__ = ["CudaUnusableError", "describe_device", "driver_version", "gpu_visible", "select_device"]

DRIVER_FILE = "/proc/driver/nvidia/version"


class CudaUnusableError(RuntimeError):
    """A GPU is visible but this PyTorch build cannot use it."""


def driver_version(path: str = DRIVER_FILE) -> str | None:
    """The NVIDIA kernel driver version (e.g. ``535.104.05``), or None when no driver is loaded."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]+)", text)
    return match.group(1) if match else "unknown"


def gpu_visible(dev_glob: str = "/dev/nvidia[0-9]*", driver_file: str = DRIVER_FILE) -> bool:
    """Whether the machine shows an NVIDIA GPU to this process (device nodes or a loaded driver).

    ``CUDA_VISIBLE_DEVICES`` set to an empty string or -1 hides every GPU on purpose.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return bool(glob.glob(dev_glob)) or os.path.exists(driver_file) or shutil.which("nvidia-smi") is not None


def unusable_cuda_message(driver: str | None) -> str:
    wheel = torch.version.cuda or "none (a CPU-only build)"
    return (
        f"USE_CUDA is True and an NVIDIA GPU is visible (driver {driver or 'unknown'}), but this PyTorch "
        f"({torch.__version__}, built for CUDA {wheel}) cannot use it: the driver is probably older than "
        "the CUDA version of the wheel. Install a PyTorch built for your driver, e.g. "
        "TORCH_CUDA=cu126 bash tools/bootstrap_env.sh (see INSTALL.md), or choose the CPU explicitly "
        "with USE_CUDA False."
    )


def select_device(use_cuda: bool, index: int | None = None, cuda_available: bool | None = None,
                  visible: bool | None = None) -> torch.device:
    """The run's device: CUDA when asked for and usable, the CPU when not asked for or no GPU is there.

    Raises :class:`CudaUnusableError` when CUDA is asked for, a GPU is visible, and CUDA is unusable.
    ``cuda_available`` / ``visible`` override the probes (for tests).
    """
    if not use_cuda:
        return torch.device("cpu")
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if available:
        return torch.device("cuda", index) if index is not None else torch.device("cuda")
    if gpu_visible() if visible is None else visible:
        raise CudaUnusableError(unusable_cuda_message(driver_version()))
    return torch.device("cpu")


def describe_device(device: torch.device, use_cuda: bool = True) -> dict:
    """What the log and results.json say about the device: type, name, memory, versions."""
    info = {"type": device.type, "torch": torch.__version__}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info.update({"index": index, "name": props.name,
                     "memory_gib": round(props.total_memory / 2**30, 1), "cuda": torch.version.cuda,
                     "capability": f"{props.major}.{props.minor}"})
    else:
        info.update({"name": "CPU", "threads": torch.get_num_threads(),
                     "reason": "USE_CUDA False" if not use_cuda else "no GPU visible"})
    return info


def device_line(info: dict) -> str:
    """One log line, e.g. ``Device: cuda:0 (NVIDIA H200, 139.8 GiB, CUDA 13.0, torch 2.11.0)``."""
    if info["type"] == "cuda":
        return (f"Device: cuda:{info['index']} ({info['name']}, {info['memory_gib']} GiB, "
                f"CUDA {info['cuda']}, torch {info['torch']})")
    return f"Device: CPU ({info['threads']} threads, torch {info['torch']}; {info['reason']})"
