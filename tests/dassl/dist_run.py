"""Run a function in W CPU processes joined by a gloo process group, the way ``torchrun`` would.

``run_processes(fn, world_size, *args)`` forks the processes, sets the ``torchrun`` environment
(``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR/PORT``), starts the group through
:func:`dassl.utils.distributed.init_distributed` and calls ``fn(rank, *args)``; ``fn`` must live in an
importable module and report through files. A failure in any process fails the call.
"""

import os
import socket

import torch.multiprocessing as mp

from dassl.utils.distributed import cleanup_distributed, init_distributed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, fn, world_size, port, args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size), OMP_NUM_THREADS="1",
                      PYTORCH_NVML_BASED_CUDA_CHECK="1")  # a forked child must not touch the CUDA runtime
    init_distributed(use_cuda=False)
    try:
        fn(rank, *args)
    finally:
        cleanup_distributed()


def run_processes(fn, world_size, *args):
    # fork: the children share the imports of the parent (a spawned child re-imports torch, seconds each)
    mp.start_processes(_entry, args=(fn, world_size, free_port(), args), nprocs=world_size, join=True,
                       start_method="fork")
