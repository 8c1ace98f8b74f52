"""Drives the streamer page in a real headless Chromium with a fake camera (run by test_web_browser.py
inside a network namespace that has only loopback). Prints one JSON object with what it measured.

    python tests/browser_scenario.py CLIP.y4m SECONDS [--autostart | --gradio | --controls | --room | --camera-errors]

`--controls` and `--camera-errors` use Chromium's own fake cameras (two, or none) instead of the clip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

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


def launch(playwright, clip: str | None = None, cameras: int | None = None, deny: bool = False):
    """Chromium with a fake camera: the y4m `clip`, or `cameras` synthetic ones (0: none at all);
    the camera prompt is accepted, or denied with `deny`."""
    if clip is not None:
        media = ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"]
    else:
        media = [f"--use-fake-device-for-media-stream=device-count={cameras if cameras is not None else 1}"]
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
            *media,
            "--deny-permission-prompts" if deny else "--use-fake-ui-for-media-stream",
            "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


def grant_clipboard(context, origin: str) -> None:
    """Let the page read and write the clipboard. This replaces the origin's permissions, so the
    camera and microphone are granted again: without them Chromium hides its host ICE candidates."""
    context.grant_permissions(["clipboard-read", "clipboard-write", "camera", "microphone"], origin=origin)


@contextmanager
def serving() -> Iterator[str]:
    """`streamer serve` on a free port; yields its base URL."""
    port = free_port()
    # A roomy budget: this checks the page and the stylizing, not speed on a busy test machine.
    command = [sys.executable, "-m", "streamer", "serve", "--port", str(port), "--ice-loopback"]
    server = subprocess.Popen([*command, "--latency-budget-ms", "400"], stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/styles")
        yield base
    finally:
        server.terminate()
        server.wait(10)


def webrtc(clip: str, seconds: float, autostart: bool) -> dict:
    from playwright.sync_api import sync_playwright

    result: dict = {"samples": [], "stats": []}
    with serving() as base, sync_playwright() as p:
        browser = launch(p, clip)
        page = browser.new_page()
        page.add_init_script(CAPTURE_PCS)
        page.goto(f"{base}/" + ("?autostart=1" if autostart else ""))
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
    return result


# Pixels of the stats chart's plot area (below the axis labels) in each series' colour (fps out, latency).
CHART_INK = """() => {
  const c = document.getElementById('chart'), top = Math.ceil(18 * devicePixelRatio);
  const d = c.getContext('2d').getImageData(0, top, c.width, c.height - top).data;
  const near = (i, [r, g, b]) =>
    Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 40 && d[i + 3] > 200;
  let fps = 0, latency = 0;
  for (let i = 0; i < d.length; i += 4) { if (near(i, [79, 209, 165])) fps++; if (near(i, [255, 180, 84])) latency++; }
  return {fps, latency};
}"""

LOCAL_CAMERA = """() => { const s = document.getElementById('local').srcObject; const t = s && s.getVideoTracks()[0];
  return t ? {label: t.label, width: t.getSettings().width, height: t.getSettings().height} : null; }"""

# Where the layout puts things: nothing wider than the window, the panel beside or under the video.
LAYOUT = """() => { const box = (s) => document.querySelector(s).getBoundingClientRect();
  const stage = box('.stage'), panel = box('.panel'), start = box('#start');
  return {overflow: document.documentElement.scrollWidth - window.innerWidth, width: window.innerWidth,
          stage: [stage.left, stage.top, stage.right, stage.bottom], panel: [panel.left, panel.top],
          start_visible: start.width > 0 && start.right <= window.innerWidth,
          video_width: box('#remote').width}; }"""


def page_controls(seconds: float) -> dict:
    """Three fake cameras: the picker lists them, the pick and the size are remembered across a
    reload and used; the chart fills; the OBS link is copied and reproduces the settings; the
    layout on a laptop and on a phone."""
    from playwright.sync_api import sync_playwright

    result: dict = {}
    with serving() as base, sync_playwright() as p:
        browser = launch(p, cameras=3)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        grant_clipboard(context, base)
        page = context.new_page()
        page.goto(f"{base}/")
        page.wait_for_function("() => document.getElementById('camera').options.length > 1")
        result["cameras"] = page.eval_on_selector_all("#camera option", "os => os.map((o) => o.textContent)")
        page.select_option("#camera", label="fake_device_2")
        page.select_option("#resolution", "1280x720")
        page.reload()
        page.wait_for_function("() => document.getElementById('style').options.length > 0")
        result["after_reload"] = page.evaluate(
            "() => [document.getElementById('camera').selectedOptions[0].textContent,"
            " document.getElementById('resolution').value]"
        )
        page.click("#start")
        page.wait_for_function(LOCAL_CAMERA, timeout=30_000)
        result["local"] = page.evaluate(LOCAL_CAMERA)
        result["laptop"] = page.evaluate(LAYOUT)
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            time.sleep(1.0)
        result["stats"] = page.evaluate("() => window.lastStats || null")
        result["chart"] = page.evaluate(CHART_INK)
        page.fill("#strength", "0.5")
        page.click("#copy-obs")
        page.wait_for_function("() => document.getElementById('obs-feedback').textContent")
        result["obs_feedback"] = page.inner_text("#obs-feedback")
        result["obs_link"] = page.evaluate("() => navigator.clipboard.readText()")
        page.set_viewport_size({"width": 390, "height": 844})
        time.sleep(0.5)
        result["phone"] = page.evaluate(LAYOUT)
        page.click("#start")  # stop
        obs = context.new_page()
        obs.goto(result["obs_link"])
        obs.wait_for_function("() => window.lastStats", timeout=30_000)
        result["obs_page"] = {
            "strength": obs.input_value("#strength"),
            "controls_visible": obs.is_visible("#controls"),
            "video_visible": obs.is_visible("#remote"),
        }
        browser.close()
    return result


PEER = "() => [document.getElementById('peer').dataset.state, document.getElementById('peer').textContent]"


def call_room(clip: str) -> dict:
    """Two pages in a call room: the link is copied, the first sees waiting, then connected, then
    left when the second page closes."""
    from playwright.sync_api import sync_playwright

    result: dict = {"first": [], "second": []}
    with serving() as base, sync_playwright() as p:
        browser = launch(p, clip)
        context = browser.new_context()
        grant_clipboard(context, base)
        first = context.new_page()
        first.goto(f"{base}/")
        first.click("#new-room")
        first.wait_for_selector("#room-link", state="visible")
        result["link"] = first.input_value("#room-link")
        first.click("#copy-room")
        first.wait_for_function("() => document.getElementById('room-feedback').textContent")
        result["room_feedback"] = first.inner_text("#room-feedback")
        result["copied"] = first.evaluate("() => navigator.clipboard.readText()")
        result["first"].append(first.evaluate(PEER))
        first.click("#start")
        first.wait_for_function("() => document.getElementById('peer').dataset.state !== 'idle'", timeout=30_000)
        result["first"].append(first.evaluate(PEER))
        second = context.new_page()
        second.goto(result["copied"])
        second.click("#start")
        for page, key in ((first, "first"), (second, "second")):
            page.wait_for_function(
                "() => document.getElementById('peer').dataset.state === 'connected'", timeout=30_000
            )
            result[key].append(page.evaluate(PEER))
        seeing = "() => document.getElementById('remote').videoWidth > 0"
        result["both_see"] = all(page.wait_for_function(seeing, timeout=30_000) for page in (first, second))
        second.close()
        first.wait_for_function("() => document.getElementById('peer').dataset.state === 'left'", timeout=40_000)
        result["first"].append(first.evaluate(PEER))
        browser.close()
    return result


def camera_errors() -> dict:
    """What the page says when the camera is denied, and when there is none."""
    from playwright.sync_api import sync_playwright

    result: dict = {}
    with serving() as base, sync_playwright() as p:
        for name, options in (("denied", {"cameras": 1, "deny": True}), ("absent", {"cameras": 0})):
            browser = launch(p, **options)
            page = browser.new_page()
            page.goto(f"{base}/")
            page.click("#start")
            page.wait_for_selector("#message", state="visible", timeout=30_000)
            result[name] = {"message": page.inner_text("#message"), "button": page.inner_text("#start")}
            browser.close()
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
    elif "--controls" in sys.argv:
        print(json.dumps(page_controls(seconds)))
    elif "--room" in sys.argv:
        print(json.dumps(call_room(clip)))
    elif "--camera-errors" in sys.argv:
        print(json.dumps(camera_errors()))
    else:
        print(json.dumps(webrtc(clip, seconds, "--autostart" in sys.argv)))
