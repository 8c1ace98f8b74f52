"""`streamer serve` with real WebRTC peers (aiortc, in-process, loopback only): mirror and call
rooms, audio relay, a peer leaving, and bad requests."""

import asyncio
import fractions
import json
import time

import numpy as np
import pytest

aiortc = pytest.importorskip("aiortc")
from aiohttp import ClientSession  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack  # noqa: E402

from streamer.capture.synthetic import Motion, SyntheticSource  # noqa: E402
from streamer.pipeline.live import STATS_KEYS  # noqa: E402
from streamer.server import server as web_server  # noqa: E402

from .fakes import FakeClock  # noqa: E402

web_server.loopback_ice_only()


class FaceCamera(VideoStreamTrack):
    """A synthetic camera: a moving face at 30 fps (aiortc paces `next_timestamp`)."""

    def __init__(self, frames):
        super().__init__()
        self.frames, self.sent = frames, 0

    async def recv(self):
        import av

        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self.frames[self.sent % len(self.frames)], format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


class Tone(AudioStreamTrack):
    async def recv(self):
        import av

        frame = await super().recv()  # silence with correct timing
        samples = (0.2 * np.sin(np.arange(frame.samples) * 0.1) * 32767).astype(np.int16)
        tone = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        tone.sample_rate, tone.pts, tone.time_base = frame.sample_rate, frame.pts, fractions.Fraction(1, 48000)
        return tone


@pytest.fixture(scope="module")
def frames():
    source = SyntheticSource([Motion((320, 240), scale=1.2, sway=(30, 10), period=2.0)], duration=1.0)
    return [source.render(i) for i in range(30)]


class Peer:
    """A browser stand-in: sends its camera (and a tone), keeps what comes back."""

    def __init__(self, frames, audio: bool = False):
        self.pc = RTCPeerConnection()
        self.camera = FaceCamera(frames)
        self.pc.addTrack(self.camera)
        if audio:
            self.pc.addTrack(Tone())
        self.channel = self.pc.createDataChannel("control")
        self.messages: list[dict] = []
        self.channel.on("message", lambda m: self.messages.append(json.loads(m)))
        self.video: list[np.ndarray] = []
        self.audio_frames = 0
        self.pc.on("track", self._on_track)

    def _on_track(self, track):
        async def pull():
            try:
                while True:
                    frame = await track.recv()
                    if track.kind == "video":
                        self.video.append(frame.to_ndarray(format="bgr24"))
                        self.video = self.video[-5:]
                        self.video_count = getattr(self, "video_count", 0) + 1
                    else:
                        self.audio_frames += 1
            except Exception:
                return

        self._pull = asyncio.ensure_future(pull())

    async def connect(self, base: str, **body) -> tuple[int, dict]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with ClientSession() as http:
            payload = {"sdp": self.pc.localDescription.sdp, "type": "offer", **body}
            async with http.post(f"{base}/api/offer", json=payload) as response:
                answer = await response.json()
                if response.status != 200:
                    return response.status, answer
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        return 200, answer

    async def close(self):
        await self.pc.close()


async def _serve(options=None):
    server = TestServer(web_server.StreamerServer(options or web_server.ServerOptions()).app(), host="127.0.0.1")
    await server.start_server()
    return server, f"http://127.0.0.1:{server.port}"


async def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.1)
    return condition()


def _stylized(received: np.ndarray, frames: list[np.ndarray]) -> bool:
    """The picture came back changed: farther from every sent frame than codec noise would make it."""
    return min(np.abs(received.astype(int) - f.astype(int)).mean() for f in frames) > 6


def test_mirror_returns_the_camera_stylized_with_stats(frames):
    async def scenario():
        server, base = await _serve(web_server.ServerOptions(latency_budget_ms=400))
        peer = Peer(frames)
        try:
            status, answer = await peer.connect(base, mode="mirror", style="toon")
            assert status == 200, answer
            assert await _wait(lambda: getattr(peer, "video_count", 0) >= 20, 30)
            assert await _wait(lambda: any("stats" in m for m in peer.messages), 10)
            stats = [m["stats"] for m in peer.messages if "stats" in m]
            return peer.video[-1], stats
        finally:
            await peer.close()
            await server.close()

    last, stats = asyncio.run(scenario())
    assert last.shape == (480, 640, 3)
    assert _stylized(last, frames)
    assert all(tuple(record) == STATS_KEYS for record in stats)
    assert stats[-1]["faces"] == 1 and sum(record["fps_out"] for record in stats) >= 1


def test_call_room_both_see_the_other_stylized_audio_is_relayed_and_leaving_is_told(frames):
    async def scenario():
        # Four VP8 streams and two pipelines share two cores here: a roomy budget keeps full quality.
        server, base = await _serve(web_server.ServerOptions(latency_budget_ms=400))
        async with ClientSession() as http, http.post(f"{base}/api/rooms", json={}) as response:
            room = (await response.json())["room"]
        assert len(room) >= 20  # an unguessable token
        a, b = Peer(frames, audio=True), Peer(frames, audio=True)
        try:
            assert (await a.connect(base, mode="room", room=room))[0] == 200
            assert (await b.connect(base, mode="room", room=room))[0] == 200
            both = lambda: getattr(a, "video_count", 0) >= 15 and getattr(b, "video_count", 0) >= 15  # noqa: E731
            assert await _wait(both, 40)
            assert await _wait(lambda: a.audio_frames > 20 and b.audio_frames > 20, 20)
            third = Peer(frames)
            status, answer = await third.connect(base, mode="room", room=room)
            await third.close()
            await b.close()
            assert await _wait(lambda: any(m.get("event") == "peer-left" for m in a.messages), 20)
            # The room stays usable: someone can take the free place.
            again = Peer(frames)
            rejoined = (await again.connect(base, mode="room", room=room))[0]
            await again.close()
            return a.video[-1], b.video[-1], status, answer, rejoined
        finally:
            await a.close()
            await server.close()

    seen_by_a, seen_by_b, third_status, third_answer, rejoined = asyncio.run(scenario())
    assert _stylized(seen_by_a, frames) and _stylized(seen_by_b, frames)
    assert third_status == 403 and "full" in third_answer["error"]
    assert rejoined == 200


def test_a_room_tells_each_person_whether_the_other_is_there(frames):
    """The page shows the other person's state from these events: the first in hears nothing while
    alone, then `peer-joined`; the second in is told `peer-joined` as soon as its channel opens
    (the other was already there); a leave is told as `peer-left`."""

    def events(peer: Peer) -> list[str]:
        return [m["event"] for m in peer.messages if "event" in m]

    async def scenario():
        server, base = await _serve(web_server.ServerOptions(latency_budget_ms=400))
        async with ClientSession() as http, http.post(f"{base}/api/rooms", json={}) as response:
            room = (await response.json())["room"]
        first, second = Peer(frames), Peer(frames)
        try:
            assert (await first.connect(base, mode="room", room=room))[0] == 200
            assert await _wait(lambda: first.channel.readyState == "open", 20)
            await asyncio.sleep(1.0)
            alone = events(first)
            assert (await second.connect(base, mode="room", room=room))[0] == 200
            assert await _wait(lambda: "peer-joined" in events(first) and "peer-joined" in events(second), 20)
            await second.close()
            assert await _wait(lambda: "peer-left" in events(first), 20)
            return alone, events(first), events(second)
        finally:
            await first.close()
            await second.close()
            await server.close()

    alone, first, second = asyncio.run(scenario())
    assert alone == []
    assert first == ["peer-joined", "peer-left"]
    assert second == ["peer-joined"]


VIDEO_SDP = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"


def test_bad_requests_get_a_4xx_with_one_sentence(frames):
    async def scenario():
        server, base = await _serve(web_server.ServerOptions(max_sessions=1))
        results = {}
        async with ClientSession() as http:
            for name, payload in {
                "not json": b"{{{",
                "malformed sdp": json.dumps({"type": "offer", "sdp": "v=0\r\nthis is not sdp"}).encode(),
                "wrong type": json.dumps({"type": "answer", "sdp": "v=0"}).encode(),
                "unknown style": json.dumps({"type": "offer", "sdp": VIDEO_SDP, "style": "nope"}).encode(),
                "no room": json.dumps({"type": "offer", "sdp": VIDEO_SDP, "mode": "room", "room": "x"}).encode(),
                "too big": json.dumps({"type": "offer", "sdp": "v=0" + "a" * 100_000}).encode(),
            }.items():
                async with http.post(
                    f"{base}/api/offer", data=payload, headers={"Content-Type": "application/json"}
                ) as response:
                    results[name] = (response.status, await response.text())
            for path in ("/../../etc/passwd", "/static/../server.py", "/%2e%2e/server.py"):
                async with http.get(base + path) as response:
                    results[path] = (response.status, "")
        first = Peer(frames)
        second = Peer(frames)
        try:
            assert (await first.connect(base))[0] == 200
            results["over capacity"] = await second.connect(base)
        finally:
            await first.close()
            await second.close()
            await server.close()
        return results

    results = asyncio.run(scenario())
    for name in ("not json", "malformed sdp", "wrong type", "unknown style"):
        status, text = results[name]
        assert status == 400, (name, status, text)
        assert json.loads(text)["error"] and "Traceback" not in text
    assert results["no room"][0] == 404
    assert results["too big"][0] == 413
    for path in ("/../../etc/passwd", "/static/../server.py", "/%2e%2e/server.py"):
        assert results[path][0] == 404, path
    status, answer = results["over capacity"]
    assert status == 503 and "limit of 1 sessions" in answer["error"]


def test_relayed_audio_is_held_back_by_the_video_latency_and_keeps_its_own_clock():
    """On a fake clock: each frame waits until its release time (put time + the video latency),
    and pts count the samples relayed, whatever the source's pts were."""
    import av

    from streamer.server.tracks import ForwardAudioTrack

    clock = FakeClock()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 9))
        clock.advance(seconds)

    def audio(pts: int):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, pts
        return frame

    async def scenario():
        track = ForwardAudioTrack(clock, sleep)
        track.put(audio(5000), 0.25)
        track.put(audio(9000), 0.25)
        first, second = await track.recv(), await track.recv()
        clock.advance(0.05)  # t = 0.3: the latency is now 0.1 s
        track.put(audio(20000), 0.1)
        third = await track.recv()
        return [first.pts, second.pts, third.pts]

    assert asyncio.run(scenario()) == [0, 960, 1920]
    assert sleeps == [0.25, 0.1], "the second frame was due when the first went; the third 0.1 s after its put"


def test_forwarded_video_stamps_its_own_monotonic_pts():
    """90 kHz from the first frame sent, on the track's clock; never twice the same."""
    from streamer.server.tracks import ForwardVideoTrack

    clock = FakeClock(100.0)
    image = np.zeros((48, 64, 3), np.uint8)

    async def scenario():
        track = ForwardVideoTrack(clock)
        pts = []
        for step in (0.0, 0.25, 0.0, 0.5):
            clock.advance(step)
            track.put(image)
            pts.append((await track.recv()).pts)
        return pts

    assert asyncio.run(scenario()) == [0, 22500, 22501, 67500]


def test_incoming_video_is_a_source_that_ends_with_the_peers_track():
    import av
    from aiortc.mediastreams import MediaStreamError

    from streamer.capture.source import Source
    from streamer.server.tracks import IncomingVideo

    clock = FakeClock()

    class Track:
        """A peer's track: three frames 1/30 s apart, then it ends."""

        def __init__(self):
            self.sent = 0

        async def recv(self):
            if self.sent == 3:
                raise MediaStreamError
            clock.advance(1 / 30 if self.sent else 0.0)
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), self.sent, np.uint8), format="bgr24")
            frame.pts, frame.time_base = 3000 * self.sent, fractions.Fraction(1, 90000)
            self.sent += 1
            return frame

    async def scenario():
        incoming = IncomingVideo(Track(), clock)
        incoming.start()
        await incoming._task
        return incoming

    incoming = asyncio.run(scenario())
    assert isinstance(incoming, Source) and incoming.live
    # The link keeps the newest frame only: the reader ran ahead, so only the last is left.
    got = list(incoming)
    assert [(f.index, f.pts, int(f.image[0, 0, 0])) for f in got] == [(0, 6000, 2)]
    assert got[0].t_capture == pytest.approx(2 / 30) and incoming.link.dropped == 2


def test_https_with_cert_and_key_and_a_warning_off_localhost(tmp_path):
    import shutil
    import socket
    import ssl
    import subprocess
    import sys
    import urllib.request

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plain = subprocess.Popen(
        [sys.executable, "-m", "streamer", "serve", "--host", "0.0.0.0", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    warning = plain.stderr.readline()
    plain.terminate()
    plain.wait(10)
    assert "without HTTPS" in warning and "--cert" in warning
    server = subprocess.Popen(
        [sys.executable, "-m", "streamer", "serve", "--port", str(port), "--cert", str(cert), "--key", str(key)],
        stderr=subprocess.DEVNULL,
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/styles", context=context, timeout=2) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert "toon" in body["styles"]
    finally:
        server.terminate()
        server.wait(10)
