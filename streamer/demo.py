"""`make demo`: build a sample clip from the astronaut sample photo (`streamer.samples`), then stylize it.

The clip (640x480, 30 fps, 5 s, with a 440 Hz tone as audio) moves the astronaut's head by known
transforms, and a second face enters halfway. Usage: `python -m streamer.demo [OUT_DIR]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamer.capture.synthetic import Motion, SyntheticSource, write_clip


def demo_source() -> SyntheticSource:
    return SyntheticSource(
        [
            Motion((230, 250), scale=1.4, sway=(70, 25), tilt=12, zoom=0.1, period=5.0),
            Motion((480, 230), scale=0.9, sway=(30, 20), tilt=-8, period=3.0, enter=2.5),
        ],
        duration=5.0,
    )


def main(argv: list[str] | None = None) -> int:
    from streamer.cli import main as cli_main

    argv = sys.argv[1:] if argv is None else argv
    out_dir = Path(argv[0] if argv else "out/demo")
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = out_dir / "sample.mp4"
    print(f"making the sample clip {sample} from the astronaut sample photo ...")
    write_clip(sample, (frame.image for frame in demo_source()))
    result = out_dir / "sample_toon.mp4"
    status = cli_main(["stylize", str(sample), str(result)])
    if status == 0:
        print(f"\ndemo done: open {result.resolve()} (the input is {sample.resolve()})")
    return status


if __name__ == "__main__":
    sys.exit(main())
