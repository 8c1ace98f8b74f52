"""Load on `streamer serve`: capacity (admitted clients' frame rate and latency, extra clients
refused) and churn (sessions joining and leaving, half of them vanishing without a goodbye).

    .venv/bin/python benchmarks/serve_load.py capacity [--max-sessions 4] [--extra 2] [--seconds 8]
    .venv/bin/python benchmarks/serve_load.py churn [--sessions 200] [--concurrency 3] [--silence 10]
    (either: [--style toon] [--json out.json])

The server is a child process (`serve_load.py server ...`): the same `StreamerServer` that
`streamer serve --ice-loopback` runs, which also writes a line of JSON to stdout every 0.25 s with
what it holds (sessions, rooms, pipeline threads named "session ...", Python and OS threads, open
descriptors, RSS) and when each session it held went away. The rate caps are lifted there (every
client comes from 127.0.0.1); everything else is the server's default unless an option says so.

Clients are aiortc peers in this process (`Client`), each sending a synthetic camera at 30 fps:
a moving face, 640x480 for capacity, 320x240 for churn.

capacity: for n = 1 .. max-sessions, one more client joins (mirror, the given style), the first
`--warmup` seconds are left out, then `--seconds` are measured for every client: the server's stats
over the DataChannel (fps_out; latency p50 and p99 of each second) and the frames the client
received, and the client's round trip: each camera frame carries its number in black and white
blocks along its bottom-left edge, and the time from the camera handing frame k over to frame k
coming back decoded is the round trip (every third frame received is read; encoding, the network,
aiortc's queues and decoding on both sides are in it, unlike the server's latency). With
max-sessions clients in, `--extra` more ask and must get 503 with a sentence; the admitted clients
are measured again after the refusals.

churn: `--sessions` sessions, at most `--concurrency` clients at a time; every fifth visit is a
call room (a new room, two people in it), the others are mirrors. Each client waits for 3 frames
back, then leaves: alternately cleanly (`RTCPeerConnection.close`: DTLS close_notify, the server
sees the connection close) or by vanishing (`Client.vanish`: the client's ICE sockets are muted
both ways, as when a laptop lid closes: no goodbye, no ICMP, nothing). Before and after: sessions,
rooms, pipeline threads, threads, descriptors and RSS of the server (and the same once garbage is
collected and freed heap given back, to tell a leak from what is merely not yet returned); for
each vanished peer the time from its going silent, and from the last video packet and the last
decoded frame the server took in from it (a busy server may decode a backlog of frames after the
peer has gone), to the server closing it. A
refusal while vanished peers still hold their places is retried after a second, and counted.

Machine state: the bare built-in style (`--style`'s network if built in, else toon) on one 640x480
frame, median of 10 runs after a warm-up, before and after, with the load average and the cores
that other programs kept busy during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STATUS_EVERY_S = 0.25


# -- the client ------------------------------------------------------------------------------------


def face_frames(size: tuple[int, int] = (640, 480), count: int = 30) -> list[np.ndarray]:
    """A second of a moving face (the camera loops over these)."""
    from streamer.capture.synthetic import Motion, SyntheticSource

    w, h = size
    k = min(w / 640, h / 480)
    motion = Motion((w / 2, h / 2), scale=1.3 * k, sway=(60 * k, 20 * k), period=1.0)
    source = SyntheticSource([motion], size=size, duration=count / 30)
    return [source.render(i) for i in range(count)]


BITS, BLOCK = 12, 16  # the frame number: 12 black or white blocks of 16x16 along the bottom-left edge


def stamp(image: np.ndarray, number: int) -> np.ndarray:
    """`image` with `number` written in blocks along its bottom-left edge."""
    marked = image.copy()
    for bit in range(BITS):
        on = (number >> (BITS - 1 - bit)) & 1
        marked[-BLOCK:, bit * BLOCK : (bit + 1) * BLOCK] = 255 if on else 0
    return marked


def read_stamp(image: np.ndarray) -> int:
    """The number `stamp` wrote (the stylized picture keeps the blocks black or white)."""
    row = image[-BLOCK // 2, BLOCK // 2 : BITS * BLOCK : BLOCK].mean(axis=-1)
    return int(sum(int(value > 128) << (BITS - 1 - i) for i, value in enumerate(row)))


def _camera_class():
    from aiortc.mediastreams import VideoStreamTrack

    class Camera(VideoStreamTrack):
        """A synthetic camera at 30 fps (aiortc paces `next_timestamp`)."""

        def __init__(self, frames: list[np.ndarray]) -> None:
            super().__init__()
            self.frames, self.sent = frames, 0
            self.sent_at: dict[int, float] = {}  # frame number (mod 2**BITS) -> when it was handed over

        async def recv(self):
            import av

            pts, time_base = await self.next_timestamp()
            number = self.sent % 2**BITS
            image = stamp(self.frames[self.sent % len(self.frames)], number)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = pts, time_base
            self.sent_at[number] = time.monotonic()
            self.sent += 1
            return frame

    return Camera


class _Muted:
    """A datagram transport that sends nothing (the real one is kept for closing)."""

    def __init__(self, real) -> None:
        self.real = real

    def sendto(self, data, addr=None) -> None:
        pass

    def close(self) -> None:
        self.real.close()

    def __getattr__(self, name):
        return getattr(self.real, name)


@dataclass
class Client:
    """A browser stand-in: sends its camera, counts the video that comes back (keeping the newest
    picture) and keeps the server's messages (`stats` records with the client's arrival time)."""

    frames: list[np.ndarray]
    pc: object = None
    channel: object = None
    session_id: str | None = None
    received: int = 0
    last_image: np.ndarray | None = None
    stats: list[tuple[float, dict]] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    vanished_at: float | None = None
    round_trips: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds) per timed frame

    def __post_init__(self) -> None:
        from aiortc import RTCPeerConnection

        self.pc = pc = RTCPeerConnection()
        self.camera = _camera_class()(self.frames)
        pc.addTrack(self.camera)
        self.channel = pc.createDataChannel("control")
        self.channel.on("message", self._on_message)
        pc.on("track", self._on_track)
        self._pull: asyncio.Task | None = None
        self._timed: set[int] = set()

    def _on_message(self, text) -> None:
        message = json.loads(text)
        self.messages.append(message)
        if "stats" in message:
            self.stats.append((time.monotonic(), message["stats"]))

    def _on_track(self, track) -> None:
        async def pull() -> None:
            try:
                while True:
                    frame = await track.recv()
                    if track.kind == "video":
                        self.received += 1
                        if self.received % 3 == 1:
                            self.last_image = image = frame.to_ndarray(format="bgr24")
                            self._time_round_trip(read_stamp(image))
            except Exception:
                return

        if track.kind == "video":
            self._pull = asyncio.ensure_future(pull())

    def _time_round_trip(self, number: int) -> None:
        """The time from the camera handing frame `number` over to it coming back decoded (once a
        number; a misread number gives no figure unless it falls in the last 10 s)."""
        now, sent = time.monotonic(), self.camera.sent_at.get(number)
        if sent is not None and number not in self._timed and 0 < now - sent < 10:
            self._timed.add(number)
            self.round_trips.append((now, now - sent))
        if len(self._timed) > 2**BITS // 2:
            self._timed.clear()

    async def connect(self, base: str, **body) -> tuple[int, dict]:
        """Offer to `base`/api/offer with `body` (mode, room, style): (status, the JSON answer)."""
        from aiohttp import ClientSession
        from aiortc import RTCSessionDescription

        await self.pc.setLocalDescription(await self.pc.createOffer())
        payload = {"sdp": self.pc.localDescription.sdp, "type": "offer", **body}
        async with ClientSession() as http, http.post(f"{base}/api/offer", json=payload) as response:
            answer = await response.json()
            status = response.status
        if status != 200:
            await self.pc.close()
            return status, answer
        self.session_id = answer["session"]
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        return status, answer

    def vanish(self) -> None:
        """Stop all traffic both ways at once, with no goodbye: every ICE socket of the connection
        sends nothing more and takes in nothing more (a closed laptop), and the camera stops (so
        this side spends nothing on it). The sockets stay open: closing them would make the
        server's next packets bounce (ICMP port unreachable), which a closed laptop does not do;
        `close()` them once the server has dealt with the silence."""
        self.vanished_at = time.monotonic()
        for ice in self._ice_transports():
            for protocol in ice._connection._protocols:
                protocol.transport = _Muted(protocol.transport)
                protocol.datagram_received = lambda data, addr: None
        self.camera.stop()

    def _ice_transports(self) -> set:
        found = set()
        for transceiver in self.pc.getTransceivers():
            if transceiver.sender.transport is not None:
                found.add(transceiver.sender.transport.transport)
        if self.pc.sctp is not None:
            found.add(self.pc.sctp.transport.transport)
        return found

    async def close(self) -> None:
        await self.pc.close()
        if self._pull is not None:
            self._pull.cancel()


async def new_room(base: str) -> tuple[int, dict]:
    from aiohttp import ClientSession

    async with ClientSession() as http, http.post(f"{base}/api/rooms", json={}) as response:
        return response.status, await response.json()


async def wait_until(condition, seconds: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(step)
    return bool(condition())


# -- the server child ------------------------------------------------------------------------------


def _os_threads() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _os_thread_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            name = (task / "comm").read_text().strip().rstrip("0123456789:_-. ") or "?"
            names[name] = names.get(name, 0) + 1
    return names


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def holdings(server) -> dict:
    """What `server` (a `StreamerServer`) and this process hold now."""
    return {
        "sessions": sorted(s.id for s in server.sessions),
        "rooms": len(server.rooms),
        "session_threads": sum(t.name.startswith("session ") for t in threading.enumerate()),
        "threads": threading.active_count(),
        "thread_names": sorted({t.name.split("_")[0].rstrip("-0123456789 ") for t in threading.enumerate()}),
        "os_threads": _os_threads(),
        "os_thread_names": _os_thread_names(),
        "fds": len(os.listdir("/proc/self/fd")),
        "rss_mb": round(_rss_mb(), 1),
    }


def serve_child(args: argparse.Namespace) -> int:
    """`server`: run a `StreamerServer` on 127.0.0.1:`--port` and report what it holds."""
    import logging

    from aiohttp import web

    from streamer.server import server as web_server

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("streamer: %(levelname)s: %(message)s"))
    logged: list[str] = []  # what the server logged, whether or not stderr was being silenced then

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    for each in (handler, Keep()):
        logging.getLogger("streamer").addHandler(each)
    logging.getLogger("streamer").setLevel(logging.WARNING)
    web_server.loopback_ice_only()
    limits = {"peer_silence_s": args.silence, "room_idle_s": args.room_idle}
    options = web_server.ServerOptions(
        style=args.style,
        max_sessions=args.max_sessions,
        sessions_per_minute=1e9,
        rooms_per_minute=1e9,
        **{k: v for k, v in limits.items() if v is not None},
    )
    server = web_server.StreamerServer(options)
    app = server.app()

    async def report() -> None:
        held: dict[str, object] = {}
        gone: dict[str, tuple] = {}  # id -> (when it went, its last frame in, its last packet in)
        next_line = 0.0
        while True:
            now = time.monotonic()
            sessions = {s.id: s for s in server.sessions}
            for sid in held.keys() - sessions.keys():
                session = held[sid]
                incoming = session._incoming  # type: ignore[attr-defined]
                last_frame = incoming.last_frame_at if incoming is not None else None
                gone[sid] = (now, last_frame, session.last_packet_at)  # type: ignore[attr-defined]
            held = sessions
            if now >= next_line:
                print(json.dumps({"t": now, **holdings(server), "gone": gone, "logged": logged}), flush=True)
                gone, next_line = {}, now + STATUS_EVERY_S
                logged.clear()
            await asyncio.sleep(0.02)

    def trim() -> None:  # SIGUSR1: collect cycles, give freed heap back (what is held for good)
        import ctypes
        import gc

        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)

    async def start(app) -> None:
        import signal

        app["report"] = asyncio.ensure_future(report())
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, trim)

    app.on_startup.append(start)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)
    return 0


class ServerProcess:
    """The server child: its latest report, when each session went away, and its stderr lines."""

    def __init__(self, style: str, max_sessions: int, silence: float | None = None, room_idle: float | None = None):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        command = [sys.executable, __file__, "server", "--port", str(self.port), "--style", style]
        command += ["--max-sessions", str(max_sessions)]
        command += ["--silence", str(silence)] if silence is not None else []
        command += ["--room-idle", str(room_idle)] if room_idle is not None else []
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.latest: dict = {}
        self.gone: dict[str, list] = {}  # session id -> [when it went, its last frame in, its last packet in]
        self.logged: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            report = json.loads(line)
            self.gone.update(report.pop("gone"))
            self.logged += report.pop("logged")
            self.latest = report

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    async def ready(self, seconds: float = 60) -> None:
        if not await wait_until(lambda: bool(self.latest) or self.process.poll() is not None, seconds, 0.1):
            raise RuntimeError("the server did not start")
        if self.process.poll() is not None:
            raise RuntimeError("the server ended: " + "\n".join(self.stderr[-5:]))

    async def trimmed(self) -> dict:
        """What the server holds once garbage is collected and freed heap given back to the system."""
        import signal

        self.process.send_signal(signal.SIGUSR1)
        await asyncio.sleep(1.0)
        return dict(self.latest)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- machine state ---------------------------------------------------------------------------------


def bare_network_ms(style: str, runs: int = 10) -> float:
    """Median ms of the bare built-in network (one thread) on one 640x480 frame."""
    from streamer.engines.registry import CATALOG, open_engine
    from streamer.pipeline.file_job import StylizeOptions

    builtin = style if CATALOG[style].family == "builtin" else "toon"
    image = face_frames((640, 480), 1)[0]
    with open_engine(StylizeOptions(style=builtin, threads=1)) as engine:
        engine.stylize_background(image)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            engine.stylize_background(image)
            times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def machine_state(style: str) -> dict:
    return {"bare_network_ms": bare_network_ms(style), "load_average_1min": round(os.getloadavg()[0], 2)}


# -- capacity --------------------------------------------------------------------------------------


def _window(clients: list[Client], start: float, end: float) -> dict:
    """Per-client figures between `start` and `end` (monotonic), from the server's stats."""
    rows = []
    for client in clients:
        records = [r for t, r in client.stats if start <= t <= end]
        p50s = [r["latency_ms_p50"] for r in records if r["latency_ms_p50"] is not None]
        p99s = [r["latency_ms_p99"] for r in records if r["latency_ms_p99"] is not None]
        trips = sorted(1000 * seconds for t, seconds in client.round_trips if start <= t <= end)
        rows.append(
            {
                "round_trip_ms_p50": round(statistics.median(trips), 1) if trips else None,
                "round_trip_ms_p99": round(trips[int(0.99 * (len(trips) - 1))], 1) if trips else None,
                "fps_out": round(statistics.mean(r["fps_out"] for r in records), 1) if records else 0.0,
                "latency_ms_p50": round(statistics.median(p50s), 1) if p50s else None,
                "latency_ms_p99": round(statistics.median(p99s), 1) if p99s else None,
                "latency_ms_p99_worst": round(max(p99s), 1) if p99s else None,
                "level_median": statistics.median(r["level"] for r in records) if records else None,
                "level_max": max((r["level"] for r in records), default=None),
            }
        )
    return {
        "clients": len(clients),
        "fps_out_min": min(r["fps_out"] for r in rows),
        "fps_out_mean": round(statistics.mean(r["fps_out"] for r in rows), 1),
        "latency_ms_p50": _median([r["latency_ms_p50"] for r in rows]),
        "latency_ms_p99": _median([r["latency_ms_p99"] for r in rows]),
        "latency_ms_p99_worst": max((r["latency_ms_p99_worst"] or 0.0 for r in rows), default=None),
        "levels": [r["level_median"] for r in rows],
        "round_trip_ms_p50": _median([r["round_trip_ms_p50"] for r in rows]),
        "round_trip_ms_p99": _median([r["round_trip_ms_p99"] for r in rows]),
        "per_client": rows,
    }


def _spread(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(values),
        "min": round(ordered[0], 2),
        "median": round(statistics.median(ordered), 2),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        "max": round(ordered[-1], 2),
    }


def _median(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


async def capacity(args: argparse.Namespace) -> dict:
    server = ServerProcess(args.style, args.max_sessions)
    frames = face_frames((640, 480))
    clients: list[Client] = []
    steps, refusals = [], []
    try:
        await server.ready()
        for n in range(1, args.max_sessions + 1):
            client = Client(frames)
            status, answer = await client.connect(server.base, mode="mirror", style=args.style)
            if status != 200:
                raise RuntimeError(f"client {n} was refused: {answer}")
            clients.append(client)
            await wait_until(lambda: clients[-1].received > 0, 60)
            await asyncio.sleep(args.warmup)
            start, received = time.monotonic(), [c.received for c in clients]
            await asyncio.sleep(args.seconds)
            end = time.monotonic()
            step = _window(clients, start, end)
            step["received_fps"] = [
                round((c.received - r) / (end - start), 1) for c, r in zip(clients, received, strict=True)
            ]
            steps.append(step)
            print(_step_line(step), flush=True)
        for _ in range(args.extra):
            extra = Client(frames)
            status, answer = await extra.connect(server.base, mode="mirror", style=args.style)
            refusals.append({"status": status, "error": answer.get("error")})
            if status == 200:
                clients.append(extra)
        print(f"extra clients: {refusals}", flush=True)
        start, received = time.monotonic(), [c.received for c in clients]
        await asyncio.sleep(args.seconds)
        end = time.monotonic()
        after = _window(clients, start, end)
        after["received_fps"] = [
            round((c.received - r) / (end - start), 1) for c, r in zip(clients, received, strict=True)
        ]
        print("after the refusals: " + _step_line(after), flush=True)
    finally:
        for client in clients:
            await client.close()
        server.stop()
    return {
        "steps": steps,
        "refused": refusals,
        "after_refusals": after,
        "server_tracebacks": sum("Traceback" in line for line in server.stderr),
    }


def _step_line(step: dict) -> str:
    return (
        f"{step['clients']} client(s): fps_out min {step['fps_out_min']} mean {step['fps_out_mean']}; "
        f"latency p50 {step['latency_ms_p50']} ms, p99 {step['latency_ms_p99']} ms "
        f"(worst second {step['latency_ms_p99_worst']} ms); received fps {step['received_fps']}; "
        f"scheduler level (median) {step['levels']}; client round trip p50 {step['round_trip_ms_p50']} ms, "
        f"p99 {step['round_trip_ms_p99']} ms"
    )


# -- churn -----------------------------------------------------------------------------------------


def plan_visits(sessions: int) -> list[tuple[bool, list[str]]]:
    """`sessions` sessions as visits (is it a room, how each person leaves): every fifth visit a
    room of two, the others mirrors; people leave alternately "clean" and "vanish"."""
    plan: list[tuple[bool, list[str]]] = []
    leaving, planned = "clean", 0
    while planned < sessions:
        room = len(plan) % 5 == 4 and sessions - planned >= 2
        people = []
        for _ in range(2 if room else 1):
            people.append(leaving)
            leaving = "vanish" if leaving == "clean" else "clean"
        plan.append((room, people))
        planned += len(people)
    return plan


def new_log() -> dict:
    """What `visit` records: vanished session ids with when they went silent, clean ones, the
    vanished clients still to close, refusals while full, visits that got no frames back."""
    return {"vanished": {}, "clean": [], "to_close": [], "refused_while_full": 0, "no_frames": 0}


async def visit(base: str, frames, style: str, room: bool, leave: list[str], log: dict) -> None:
    """One visit: a mirror client, or two clients in a new room; each waits for 3 frames back,
    then leaves the way `leave` says ("clean" or "vanish"), one entry per client. Vanished clients
    go to `log["to_close"]`."""
    body: dict = {"mode": "mirror", "style": style}
    if room:
        status, answer = await new_room(base)
        if status != 200:
            raise RuntimeError(f"no room: {answer}")
        body = {"mode": "room", "room": answer["room"], "style": style}
    clients = []
    for _ in leave:
        while True:
            client = Client(frames)
            status, answer = await client.connect(base, **body)
            if status == 200:
                break
            if status != 503:
                raise RuntimeError(f"refused: {status} {answer}")
            log["refused_while_full"] += 1
            await asyncio.sleep(1.0)
        clients.append(client)
    got = await wait_until(lambda: all(c.received >= 3 for c in clients), 60)
    if not got:
        log["no_frames"] += 1
    for client, how in zip(clients, leave, strict=True):
        if how == "vanish":
            client.vanish()
            log["vanished"][client.session_id] = client.vanished_at
            log["to_close"].append(client)
        else:
            log["clean"].append(client.session_id)
            await client.close()


async def churn(args: argparse.Namespace) -> dict:
    from streamer.server import server as web_server

    server = ServerProcess(args.style, args.max_sessions, args.silence, args.room_idle)
    frames = face_frames((320, 240))
    log = new_log()
    try:
        await server.ready()
        await visit(server.base, frames, args.style, False, ["clean"], log)  # warm-up: models loaded
        await wait_until(lambda: not server.latest["sessions"] and not server.latest["session_threads"], 30)
        await asyncio.sleep(1.0)
        before = dict(server.latest)
        log["clean"].clear()
        plan = plan_visits(args.sessions)
        gate = asyncio.Semaphore(args.concurrency)
        started = time.monotonic()

        trace = []

        async def run(room: bool, people: list[str]) -> None:
            async with gate:
                await visit(server.base, frames, args.style, room, people, log)
            done = len(log["vanished"]) + len(log["clean"])
            if done // 20 > len(trace):  # the server's size every 20 sessions
                latest = server.latest
                trace.append({"done": done, **{k: latest[k] for k in ("sessions", "os_threads", "fds", "rss_mb")}})
                trace[-1]["sessions"] = len(latest["sessions"])

        await asyncio.gather(*(run(room, people) for room, people in plan))
        churn_s = time.monotonic() - started
        settled = await wait_until(
            lambda: (
                not server.latest["sessions"] and not server.latest["session_threads"] and not server.latest["rooms"]
            ),
            args.silence + args.room_idle + 60,
            0.25,
        )
        await asyncio.sleep(web_server.COLLECT_AFTER_CLOSE_S + 1.5)  # the server collects after the last close
        after = dict(server.latest)
        trimmed = await server.trimmed()
    finally:
        for client in log["to_close"]:
            await client.close()
        server.stop()
    cleanup = [server.gone[sid][0] - t for sid, t in log["vanished"].items() if sid in server.gone]
    after_last = {
        what: [
            server.gone[sid][0] - server.gone[sid][i]
            for sid in log["vanished"]
            if sid in server.gone and server.gone[sid][i] is not None
        ]
        for what, i in (("frame", 1), ("packet", 2))
    }
    result = {
        "sessions": len(log["vanished"]) + len(log["clean"]),
        "vanished": len(log["vanished"]),
        "clean": len(log["clean"]),
        "rooms_visits": sum(1 for room, _ in plan if room),
        "churn_s": round(churn_s, 1),
        "refused_while_full": log["refused_while_full"],
        "visits_without_frames": log["no_frames"],
        "settled": settled,
        "before": {k: v for k, v in before.items() if k != "t"},
        "after": {k: v for k, v in after.items() if k != "t"},
        "after_gc_and_malloc_trim": {k: trimmed[k] for k in ("rss_mb", "os_threads", "fds")},
        "trace": trace,
        "peer_silence_s": args.silence,
        "vanished_closed_after_going_silent_s": _spread(cleanup),
        "vanished_closed_after_last_packet_in_s": _spread(after_last["packet"]),
        "vanished_closed_after_last_frame_in_s": _spread(after_last["frame"]),
        "closed_lines_logged": sum(" closed: no video for " in line for line in server.logged),
        "closed_lines_on_stderr": sum(" closed: no video for " in line for line in server.stderr),
        "server_tracebacks": sum("Traceback" in line for line in server.stderr),
        "server_stderr": [line for line in server.stderr if not line.startswith(("W0000", "I0000"))][-60:],
    }
    print(json.dumps({k: v for k, v in result.items()}, indent=1), flush=True)
    return result


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", required=True)
    child = modes.add_parser("server", help="(the server child)")
    child.add_argument("--port", type=int, required=True)
    child.add_argument("--style", default="toon")
    child.add_argument("--max-sessions", type=int, default=4)
    child.add_argument("--silence", type=float)
    child.add_argument("--room-idle", type=float)
    cap = modes.add_parser("capacity")
    cap.add_argument("--max-sessions", type=int, default=4)
    cap.add_argument("--extra", type=int, default=2)
    cap.add_argument("--seconds", type=float, default=8.0)
    cap.add_argument("--warmup", type=float, default=4.0)
    ch = modes.add_parser("churn")
    ch.add_argument("--sessions", type=int, default=200)
    ch.add_argument("--concurrency", type=int, default=3)
    ch.add_argument("--max-sessions", type=int, default=16, help="room for the vanished peers not yet closed")
    ch.add_argument("--silence", type=float, default=10.0, help="the server's PEER_SILENCE_S (default 10)")
    ch.add_argument("--room-idle", type=float, default=5.0)
    for sub in (cap, ch):
        sub.add_argument("--style", default="toon")
        sub.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.mode == "server":
        return serve_child(args)
    from streamer.bench.measure import cpu_sample, others_cores
    from streamer.server import server as web_server

    web_server.loopback_ice_only()
    state_before = machine_state(args.style)
    print(f"machine: {state_before}", flush=True)
    sample = cpu_sample()
    result = asyncio.run(capacity(args) if args.mode == "capacity" else churn(args))
    others = others_cores(sample, cpu_sample())
    state_after = machine_state(args.style)
    print(f"machine after: {state_after}; other programs kept {others} cores busy", flush=True)
    result["machine"] = {"before": state_before, "after": state_after, "others_cores": others, "cpus": os.cpu_count()}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
