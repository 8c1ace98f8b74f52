"""The figures `streamer bench` compares with: what its own runs measured on known machines.

Each entry is one kind of run (the style's family, the device, the precision, the network that
styles the background, temporal reuse on or off; None matches anything) with the figures
`streamer bench` printed for it: the bare network's time (one head and one background, two threads),
file mode's fps, and the live rung and stylized fps it settled at. An entry whose figures are None
has not been measured yet (no GPU figure exists so far).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ReferenceKey:
    """What a reference entry is for; a field left None matches any value."""

    family: str
    device: str
    precision: str | None = None
    background: str | None = None
    reuse: bool | None = None

    def matches(self, other: ReferenceKey) -> bool:
        return all(
            getattr(self, f.name) is None or getattr(self, f.name) == getattr(other, f.name) for f in fields(self)
        )

    @property
    def specificity(self) -> int:
        return sum(getattr(self, f.name) is not None for f in fields(self))


@dataclass(frozen=True)
class Reference:
    """`machine`: the class of machine; `measured`: when and with which command, or why not."""

    key: ReferenceKey
    machine: str
    measured: str
    network_ms: float | None = None
    file_fps: float | None = None
    live_level: int | None = None
    live_rung: str | None = None
    live_stylized_fps: float | None = None

    @property
    def is_measured(self) -> bool:
        return self.network_ms is not None


CPU_2_CORES = "2-core x86_64 CPU (Intel Xeon, AVX-512), the test machine of BENCHMARKS.md"
NOT_MEASURED = "not measured yet: no GPU was available to measure one"


def _cpu(
    family: str,
    precision: str,
    background: str,
    reuse: bool,
    measured: str,
    network_ms: float,
    file_fps: float,
    live: tuple[int, str, float],
) -> Reference:
    level, rung, fps = live
    key = ReferenceKey(family, "cpu", precision, background, reuse)
    return Reference(key, CPU_2_CORES, measured, network_ms, file_fps, level, rung, fps)


REFERENCES: tuple[Reference, ...] = (
    _cpu(
        "builtin",
        "fp32",
        "toon",
        False,
        "2026-11-30, streamer bench --style toon",
        17.9,
        43.1,
        (1, "head every frame, background refreshed", 30.0),
    ),
    Reference(ReferenceKey("dctnet", "cuda"), "CUDA GPU", NOT_MEASURED),
    Reference(ReferenceKey("photo2cartoon", "cuda"), "CUDA GPU", NOT_MEASURED),
)


def find_reference(key: ReferenceKey, table: tuple[Reference, ...] = REFERENCES) -> Reference | None:
    """The most specific entry of `table` whose key matches `key` (a run's full key), or None."""
    found = [entry for entry in table if entry.key.matches(key)]
    return max(found, key=lambda entry: entry.key.specificity) if found else None
