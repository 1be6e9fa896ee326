"""What the benchmarks share: their common flags, random input batches, and wall-clock timing with
interleaved repeats (best time kept) or per call (``timed_calls``)."""

import argparse
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


def timed_calls(fn, calls: int, device: torch.device) -> tuple[list[float], list]:
    """Wall time in seconds of each of ``calls`` successive calls of ``fn`` (the device synchronised around
    each), and what the calls returned."""
    times, results = [], []
    for _ in range(calls):
        synchronize(device)
        start = time.perf_counter()
        results.append(fn())
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times, results


def base_parser(description: str) -> argparse.ArgumentParser:
    """Flags every benchmark takes; each adds its model-size flags."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="timed passes per variant (best kept)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    return p


def random_batches(args, resolution: int, device: torch.device) -> torch.Tensor:
    """``[batches, batch_size, 3, resolution, resolution]`` random images from the current generator."""
    return torch.randn(args.batches, args.batch_size, 3, resolution, resolution, device=device)


def interleaved_times(fns: dict, warmup: int, steps: int, device: torch.device) -> dict[str, list[float]]:
    """Wall times in seconds of ``steps`` calls of each callable in ``fns``, after ``warmup`` untimed rounds.

    The callables alternate within every round, in reverse order every other round, so that machine-load
    drift and whatever one call leaves in the caches affect them alike; the i-th times of all callables
    come from the same round (see :func:`paired_ratios`)."""
    times = {name: [] for name in fns}
    order = list(fns.items())
    for round_ in range(warmup + steps):
        for name, fn in (order if round_ % 2 == 0 else order[::-1]):
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def paired_ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Per-round ratios of two series from :func:`interleaved_times` (load drift cancels within a round)."""
    return [a / b for a, b in zip(numerator, denominator)]
