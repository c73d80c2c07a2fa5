"""Pick the device and size the CPU thread pool once, at process start."""

from __future__ import annotations

import os

import torch


def select_device(preference: str = "auto") -> torch.device:
    """'auto' takes CUDA when a GPU is visible, else the CPU."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def configure_threads(threads: int | None) -> int:
    """Pin torch's intra-op threads; default one per core the process may use, at most 4."""
    count = threads or max(1, min(4, len(os.sched_getaffinity(0))))
    torch.set_num_threads(count)
    return count


def use_half_precision(device: torch.device, setting: str = "auto") -> bool:
    """'auto': half precision on CUDA only (on a CPU it is slower, not faster); or 'true'/'false'."""
    if setting == "auto":
        return device.type == "cuda"
    return setting.lower() in ("true", "1", "yes")
