"""Peak memory of one training cell, measured the same way from model load to the end of training.

On CUDA this is `torch.cuda.max_memory_allocated` (weights, gradients, optimizer state, activations).
On CPU there is no allocator counter, so a background thread samples the process RSS every few
milliseconds and the peak growth over the RSS before the model was loaded is reported. RSS growth
undercounts when freed memory from earlier work in the same process is reused, so compare CPU numbers
only between cells run in fresh processes (benchmarks/train_memory.py does that).
"""

from __future__ import annotations

import threading

import psutil
import torch

MB = 1024 * 1024


class PeakMemory:
    """Context manager; `peak_mb` is valid after exit. `kind` says what was measured."""

    def __init__(self, device: str, interval_s: float = 0.005):
        self.device = device
        self.kind = "cuda_max_allocated" if device.startswith("cuda") else "cpu_rss_growth"
        self.peak_mb = 0.0
        self._interval = interval_s
        self._stop = threading.Event()
        self._process = psutil.Process()
        self._baseline = 0
        self._peak = 0

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        if self.kind == "cuda_max_allocated":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._baseline = torch.cuda.memory_allocated()
        else:
            self._baseline = self._peak = self._process.memory_info().rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "cuda_max_allocated":
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._baseline) / MB
        else:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, self._process.memory_info().rss)
            self.peak_mb = (self._peak - self._baseline) / MB
