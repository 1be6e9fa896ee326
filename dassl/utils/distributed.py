"""One run on several processes started by ``torchrun``: process group, ranks, barriers, gathering.

Distributed mode is read from the environment ``torchrun`` sets (``WORLD_SIZE`` > 1, ``RANK``,
``LOCAL_RANK``). Every helper is a no-op (or the single-process answer) when the process group is not
initialised, so single-process code paths stay exactly as they are.
"""

import os
import secrets

import torch
import torch.distributed as dist

__all__ = [
    "all_gather_tensor",
    "all_reduce_mean",
    "barrier",
    "cleanup_distributed",
    "env_world_size",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "local_rank",
    "shared_seed",
]


def env_world_size():
    """``WORLD_SIZE`` set by ``torchrun`` (1 when absent)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be an integer, got {value!r}") from None


def local_rank():
    """Index of this process on its machine (``LOCAL_RANK``; 0 when absent)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed():
    """True when a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank():
    return dist.get_rank() if is_distributed() else 0


def get_world_size():
    return dist.get_world_size() if is_distributed() else 1


def is_main_process():
    """Rank 0 (or the only process): the one that writes logs, checkpoints and results."""
    return get_rank() == 0


def init_distributed(use_cuda):
    """Start the process group when ``torchrun`` asked for several processes; return the rank's device.

    Backend ``nccl`` with one GPU per process (``cuda:LOCAL_RANK``) when CUDA is used, else ``gloo`` on
    the CPU. Returns None in a single process (nothing is initialised). Calling it again is harmless.
    """
    if env_world_size() <= 1:
        return None
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    cuda = bool(use_cuda) and torch.cuda.is_available()
    device = torch.device("cuda", local_rank()) if cuda else torch.device("cpu")
    if cuda:
        if local_rank() >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local_rank()} has no GPU: {torch.cuda.device_count()} visible; "
                               "start at most one process per GPU (torchrun --nproc_per_node)")
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return device


def cleanup_distributed():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier():
    """Wait for every process (no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def _communication_device():
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None


def all_gather_tensor(tensor):
    """Tensors of the same shape from every rank, stacked along a new first dim (rank order), on CPU.

    A single process gets ``tensor.unsqueeze(0)``.
    """
    if not is_distributed():
        return tensor.detach().cpu().unsqueeze(0)
    device = _communication_device()
    local = tensor.detach().to(device if device is not None else "cpu").contiguous()
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local)
    return torch.stack([p.cpu() for p in parts])


def all_reduce_mean(tensors):
    """The mean over the ranks of each tensor of ``tensors`` (None entries stay None); a single process
    gets its tensors back unchanged. Every rank must pass the same shapes with None at the same places."""
    if not is_distributed():
        return tensors
    out = []
    for tensor in tensors:
        if tensor is None:
            out.append(None)
            continue
        summed = tensor.detach().clone()
        dist.all_reduce(summed)
        out.append(summed / dist.get_world_size())
    return out


def shared_seed(seed):
    """``seed`` when it is set (>= 0), else one random value drawn by rank 0 and shared by every rank.

    The value comes from the operating system, not from the seeded generators, whose streams must stay
    the same on every rank.
    """
    if seed >= 0 or not is_distributed():
        return seed
    value = [secrets.randbelow(2**31 - 1) if is_main_process() else None]
    dist.broadcast_object_list(value, src=0)
    return value[0]
