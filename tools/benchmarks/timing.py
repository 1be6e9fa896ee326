"""Wall-clock timing shared by the benchmarks: interleaved repeats, best time kept."""

import time

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_times(fns: dict, repeats: int, device: torch.device) -> dict:
    """Best wall time in seconds of each callable in ``fns``; the callables alternate within every repeat
    so that machine-load drift affects them alike. One untimed call each warms caches first."""
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best
