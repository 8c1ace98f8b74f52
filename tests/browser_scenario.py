"""Drives the streamer page in a real headless Chromium with a fake camera (run by test_web_browser.py
inside a network namespace that has only loopback). Prints one JSON object with what it measured.

    python tests/browser_scenario.py CLIP.y4m SECONDS [--autostart | --gradio]
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

CHROMIUM = os.environ.get("STREAMER_CHROMIUM", "/usr/bin/chromium")

# Pixels of the remote video against the local camera, read in the page (same frame size).
MEASURE = """() => {
  const grab = (v) => {
    const c = document.createElement('canvas'); c.width = 160; c.height = 120;
    const g = c.getContext('2d'); g.drawImage(v, 0, 0, 160, 120); return g.getImageData(0, 0, 160, 120).data;
  };
  const r = document.getElementById('remote'), l = document.getElementById('local');
  if (!r.videoWidth || !l.videoWidth) return null;
  const a = grab(r), b = grab(l); let d = 0, lum = 0;
  for (let i = 0; i < a.length; i += 4) {
    d += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
    lum += a[i];
  }
  const n = a.length / 4;
  return {diff: d / n / 3, brightness: lum / n, width: r.videoWidth, height: r.videoHeight};
}"""

DECODED = """async () => {
  const pc = window.__pcs && window.__pcs[0]; if (!pc) return null;
  const stats = await pc.getStats(); let frames = null;
  stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded; });
  return frames;
}"""

# Keep a handle on every RTCPeerConnection the page makes, for getStats().
CAPTURE_PCS = """(() => { const Orig = window.RTCPeerConnection; window.__pcs = [];
  window.RTCPeerConnection = function (...args) { const pc = new Orig(...args); window.__pcs.push(pc); return pc; };
  window.RTCPeerConnection.prototype = Orig.prototype; })();"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def launch(playwright, clip: str):
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={clip}",
            "--use-fake-ui-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


def webrtc(clip: str, seconds: float, autostart: bool) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    # A roomy budget: this checks the page and the stylizing, not speed on a busy test machine.
    command = [
        sys.executable,
        "-m",
        "streamer",
        "serve",
        "--port",
        str(port),
        "--ice-loopback",
        "--latency-budget-ms",
        "400",
    ]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    result: dict = {"samples": [], "stats": []}
    try:
        wait_http(f"http://127.0.0.1:{port}/api/styles")
        with sync_playwright() as p:
            browser = launch(p, clip)
            page = browser.new_page()
            page.add_init_script(CAPTURE_PCS)
            page.goto(f"http://127.0.0.1:{port}/" + ("?autostart=1" if autostart else ""))
            if not autostart:
                page.click("#start")
            start = time.monotonic()
            decoded_start = None
            while time.monotonic() - start < seconds:
                time.sleep(1.0)
                sample = page.evaluate(MEASURE)
                if sample:
                    result["samples"].append(sample)
                stats = page.evaluate("() => window.lastStats || null")
                if stats:
                    result["stats"].append(stats)
                decoded = page.evaluate(DECODED)
                if decoded is not None and decoded_start is None:
                    decoded_start = (decoded, time.monotonic())
            decoded_end = page.evaluate(DECODED)
            if decoded_start and decoded_end is not None:
                result["decoded_fps"] = (decoded_end - decoded_start[0]) / (time.monotonic() - decoded_start[1])
            result["status"] = page.inner_text("#status")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return result


def gradio_webcam(clip: str, seconds: float) -> dict:
    """The Gradio demo's webcam tab: click the camera on, record, and collect the stylized images."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamer", "demo", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    result: dict = {"images": []}
    try:
        wait_http(f"http://127.0.0.1:{port}/", 120)
        with sync_playwright() as p:
            browser = launch(p, clip)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text("Click to Access Webcam").click()
            page.locator("button:visible", has_text="Record").first.click(timeout=30_000)
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                time.sleep(0.5)
                for image in page.query_selector_all("img"):
                    src = image.get_attribute("src") or ""
                    if "/gradio_api/file=" in src and src not in result["images"]:
                        result["images"].append(src)
            if result["images"]:
                response = page.request.get(result["images"][-1])
                path = os.path.join(os.path.dirname(clip), "last_stylized.png")
                with open(path, "wb") as f:
                    f.write(response.body())
                result["last"] = path
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return result


if __name__ == "__main__":
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    clip, seconds = sys.argv[1], float(sys.argv[2])
    if "--gradio" in sys.argv:
        print(json.dumps(gradio_webcam(clip, seconds)))
    else:
        print(json.dumps(webrtc(clip, seconds, "--autostart" in sys.argv)))
