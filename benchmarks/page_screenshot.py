"""The screenshot of `streamer serve`'s page in the README (docs/page.png): a call room between two
headless Chromium pages with a fake camera clip, shown on a laptop-sized window with a phone-sized
one beside it, after the live chart has filled for a while.

    unshare -rn .venv/bin/python benchmarks/page_screenshot.py [--seconds 20] [--out docs/page.png]

(`unshare -rn`: a network namespace with only loopback, as the browser tests use.) The PNG is
reduced to a 256-colour palette to stay small.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from browser_scenario import grant_clipboard, launch, serving  # noqa: E402

LAPTOP = {"width": 1280, "height": 760}
PHONE = {"width": 390, "height": 760}
GAP = 24


def make_clip(path: Path, seconds: float = 10.0) -> None:
    """A y4m clip of a synthetic face swaying: Chromium's fake camera."""
    from streamer.capture.synthetic import Motion, SyntheticSource

    source = SyntheticSource([Motion((320, 250), scale=1.3, sway=(40, 12), period=4.0)], duration=seconds)
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        for frame in source:
            f.write(b"FRAME\n" + cv2.cvtColor(frame.image, cv2.COLOR_BGR2YUV_I420).tobytes())


def screenshots(clip: Path, seconds: float) -> tuple[bytes, bytes]:
    """(laptop, phone) PNG screenshots of the first of two pages in a call room."""
    from playwright.sync_api import sync_playwright

    with serving() as base, sync_playwright() as p:
        browser = launch(p, str(clip))
        context = browser.new_context(viewport=LAPTOP)
        grant_clipboard(context, base)
        first = context.new_page()
        first.goto(f"{base}/")
        first.click("#new-room")
        link = first.input_value("#room-link")
        first.click("#start")
        second = context.new_page()
        second.goto(link)
        second.click("#start")
        first.wait_for_function("() => document.getElementById('peer').dataset.state === 'connected'", timeout=60_000)
        first.wait_for_function("() => document.getElementById('remote').videoWidth > 0", timeout=60_000)
        time.sleep(seconds)
        first.click("#copy-room")
        laptop = first.screenshot()
        first.set_viewport_size(PHONE)
        time.sleep(1.0)
        phone = first.screenshot()
        browser.close()
    return laptop, phone


def compose(laptop: bytes, phone: bytes, out: Path) -> None:
    """The two side by side on the page's background, as a palette PNG."""
    from PIL import Image

    wide, narrow = Image.open(io.BytesIO(laptop)).convert("RGB"), Image.open(io.BytesIO(phone)).convert("RGB")
    canvas = Image.new("RGB", (wide.width + GAP + narrow.width, max(wide.height, narrow.height)), (15, 17, 21))
    canvas.paste(wide, (0, 0))
    canvas.paste(narrow, (wide.width + GAP, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the chart fills before the shot")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "page.png")
    args = parser.parse_args()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "camera.y4m"
        make_clip(clip)
        laptop, phone = screenshots(clip, args.seconds)
    compose(laptop, phone, args.out)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
