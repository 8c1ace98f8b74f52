"""The benchmark scripts (`benchmarks/NAME.py`) as modules, so the tests run the very code the
benchmarks run, with small figures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark_script(name: str) -> Path:
    """The path of `benchmarks/NAME.py`, to run as a command."""
    return BENCHMARKS / f"{name}.py"


def load_benchmark(name: str) -> ModuleType:
    """`benchmarks/NAME.py` imported once as the module NAME (registered in `sys.modules` before it
    runs, as its dataclasses need)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, benchmark_script(name))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
