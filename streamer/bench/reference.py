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
    """What a reference entry is for; a field left None matches any value. `style` tells built-in
    styles apart (each its own graph); the styles of one learned family share one network."""

    family: str
    device: str
    precision: str | None = None
    background: str | None = None
    reuse: bool | None = None
    style: str | None = None

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


CPU_2_CORES = "2 cores of an Intel Xeon (x86_64, AVX-512 VNNI), the test machine of BENCHMARKS.md"
NOT_MEASURED = "not measured yet: no GPU was available to measure one"
# The trained reference weights of the DCT-Net-family U-Net (imported as `whitebox`); every DCT-Net
# style has the same network, so the same cost.
DCTNET_RUN = "2026-11-30, streamer bench --style whitebox"


def _cpu(
    family: str,
    precision: str,
    background: str,
    reuse: bool,
    measured: str,
    network_ms: float,
    file_fps: float,
    live: tuple[int, str, float],
    style: str | None = None,
) -> Reference:
    level, rung, fps = live
    key = ReferenceKey(family, "cpu", precision, background, reuse, style)
    return Reference(key, CPU_2_CORES, measured, network_ms, file_fps, level, rung, fps)


# Each from a run with other programs using under 0.1 core (`machine.others_cores` in --json).
REFERENCES: tuple[Reference, ...] = (
    _cpu(
        "builtin", "fp32", "toon", False, "2026-11-30, streamer bench --style toon",
        19.6, 46.5, (0, "head every frame, background every frame", 30.0), style="toon",
    ),
    _cpu(
        "dctnet", "int8", "learned", True, DCTNET_RUN,
        243.8, 11.3, (4, "keyframe every 8, head 224, background refreshed at half size", 30.0),
    ),
    _cpu(
        "dctnet", "int8", "toon", True, f"{DCTNET_RUN} --background-style toon",
        80.2, 51.0, (1, "keyframe every 4, background refreshed", 30.0),
    ),
    _cpu(
        "dctnet", "int8", "learned", False, f"{DCTNET_RUN} --temporal off",
        213.6, 5.2, (5, "passthrough", 0.0),
    ),
    _cpu(
        "dctnet", "fp32", "learned", True, f"{DCTNET_RUN} --precision fp32",
        305.3, 8.4, (4, "keyframe every 8, head 224, background refreshed at half size", 30.0),
    ),
    Reference(ReferenceKey("dctnet", "cuda"), "CUDA GPU", NOT_MEASURED),
    Reference(ReferenceKey("photo2cartoon", "cuda"), "CUDA GPU", NOT_MEASURED),
)  # fmt: skip


def find_reference(key: ReferenceKey, table: tuple[Reference, ...] = REFERENCES) -> Reference | None:
    """The most specific entry of `table` whose key matches `key` (a run's full key), or None."""
    found = [entry for entry in table if entry.key.matches(key)]
    return max(found, key=lambda entry: entry.key.specificity) if found else None
