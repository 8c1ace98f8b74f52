"""WebRTC in a real browser: decoded fps, round-trip latency, concurrent sessions (headless Chromium
with a fake camera, everything in a loopback-only network namespace).

    unshare -rn .venv/bin/python benchmarks/bench_web.py [--seconds 8] [--max-sessions 4]

The fake camera is a 640x480, 30 fps clip whose bottom-left corner carries the frame number as
black and white blocks; the page reads the number from the local preview and from the remote
(stylized) video and times how long each number takes to come back: local frame k shown to remote
frame k rendered. Decoded fps is `getStats().framesDecoded` (requestVideoFrameCallback undercounts
in headless mode). Variants: the built-in style, and the learned U-Net (reference weights in
$STREAMER_MODELS_DIR) when present; then 1..N mirror pages at once with the built-in style.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from browser_scenario import CAPTURE_PCS, DECODED, free_port, launch, wait_http  # noqa: E402

LEARNED_BUDGET_MS = 150
MODELS_DIR = Path(os.environ.get("STREAMER_MODELS_DIR", REPO.parent / "shared" / "models"))
BITS, BLOCK = 12, 16  # the frame number: 12 blocks of 16x16 pixels along the bottom-left edge

READER = f"""() => {{
  window.__seen = {{local: {{}}, remote: {{}}}};
  const c = document.createElement('canvas'); c.width = 640; c.height = 480;
  const g = c.getContext('2d', {{willReadFrequently: true}});
  const read = (v) => {{
    if (!v.videoWidth) return null;
    g.drawImage(v, 0, 0, 640, 480);
    const row = g.getImageData(0, 480 - {BLOCK}, {BITS * BLOCK}, 1).data; let n = 0;
    for (let b = 0; b < {BITS}; b++) {{
      const x = (b * {BLOCK} + {BLOCK // 2}) * 4; n = n * 2 + (row[x] > 128 ? 1 : 0);
    }}
    return n;
  }};
  const tick = () => {{
    const now = performance.now();
    for (const [id, key] of [['local', 'local'], ['remote', 'remote']]) {{
      const n = read(document.getElementById(id));
      if (n !== null && !(n in window.__seen[key])) window.__seen[key][n] = now;
    }}
  }};
  setInterval(tick, 4);
}}"""


def make_clip(path: Path, seconds: float = 10.0) -> None:
    from streamer.capture.synthetic import Motion, SyntheticSource

    source = SyntheticSource([Motion((360, 200), scale=1.1, sway=(30, 10), period=3.0)], duration=seconds)
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        for frame in source:
            image = frame.image
            for b in range(BITS):
                bit = (frame.index >> (BITS - 1 - b)) & 1
                image[480 - 2 * BLOCK :, b * BLOCK : (b + 1) * BLOCK] = 255 if bit else 0
            f.write(b"FRAME\n" + cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes())


def measure(clip: Path, seconds: float, style: str, pages: int, env: dict) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    command = [sys.executable, "-m", "streamer", "serve", "--port", str(port), "--ice-loopback"]
    command += ["--max-sessions", str(pages)]
    if style != "toon":  # a learned head cannot fit one frame period on a CPU: give it the live budget
        command += ["--latency-budget-ms", str(LEARNED_BUDGET_MS)]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/styles")
        with sync_playwright() as p:
            browser = launch(p, str(clip))
            tabs = []
            for _ in range(pages):
                page = browser.new_page()
                page.add_init_script(CAPTURE_PCS)
                page.goto(f"http://127.0.0.1:{port}/?autostart=1&style={style}")
                tabs.append(page)
            time.sleep(4)  # connect and warm up
            for page in tabs:
                page.evaluate(READER)
            start = [(page.evaluate(DECODED) or 0, time.monotonic()) for page in tabs]
            time.sleep(seconds)
            fps = []
            for page, (d0, t0) in zip(tabs, start, strict=True):
                fps.append(((page.evaluate(DECODED) or 0) - d0) / (time.monotonic() - t0))
            seen = tabs[0].evaluate("() => window.__seen")
            server_stats = tabs[0].evaluate("() => window.lastStats || null")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    local, remote = seen["local"], seen["remote"]
    trips = sorted(remote[k] - local[k] for k in remote if k in local and remote[k] >= local[k])
    return {"fps": fps, "trips": trips, "server": server_stats}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="at most 9: the camera clip loops every 10 s")
    parser.add_argument("--max-sessions", type=int, default=4)
    args = parser.parse_args()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "camera.y4m"
        make_clip(clip)
        env = {**os.environ, "STREAMER_HOME": str(Path(tmp) / "home")}
        styles = ["toon"]
        reference = MODELS_DIR / "whitebox_cartoon_gan_fp16.tflite"
        if reference.exists():
            subprocess.run(
                [sys.executable, "-m", "streamer", "models", "import", str(reference), "--style", "whitebox"],
                check=True,
                env=env,
                capture_output=True,
            )
            styles.append("whitebox")
        print(f"# WebRTC in headless Chromium, fake camera 640x480 at 30 fps, {os.cpu_count()} CPU cores\n")
        print(
            "| style | pages | decoded fps (each) | round trip median (ms) | p90 (ms) | frames matched "
            "| server: level, fps out, latency p50 (ms) |"
        )
        print("|---|---|---|---|---|---|---|")
        runs = [(style, 1) for style in styles] + [("toon", n) for n in range(2, args.max_sessions + 1)]
        for style, pages in runs:
            r = measure(clip, args.seconds, style, pages, env)
            trips = r["trips"]
            median = statistics.median(trips) if trips else float("nan")
            p90 = trips[int(0.9 * (len(trips) - 1))] if trips else float("nan")
            fps = ", ".join(f"{f:.1f}" for f in r["fps"])
            st = r["server"] or {}
            server = f"{st.get('level')}, {st.get('fps_out')}, {st.get('latency_ms_p50')}"
            print(f"| {style} | {pages} | {fps} | {median:.0f} | {p90:.0f} | {len(trips)} | {server} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
