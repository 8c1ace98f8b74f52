"""`streamer serve`: live cartoon video over WebRTC (aiohttp + aiortc), with its page.

Modes:
- mirror: the browser's camera comes back stylized (an OBS Browser Source with `?autostart=1`);
- room: two people in the same room (an unguessable token) each see the other stylized; audio is
  relayed untouched, held back by the measured video latency so lips and voice stay in sync.

Every session runs its own `LivePipeline` (thread): the newest incoming frame only, the latency
scheduler, stats over a DataChannel once a second (fps, latency, level, faces), and runtime
controls from the page (style, background, strength).

Safety (each limit a constant here, overridable in `ServerOptions`):
- binds 127.0.0.1 unless told otherwise; serves only its own page files; sends no CORS header, and
  takes POSTs only as `Content-Type: application/json` (which a cross-site form cannot send);
- request bodies are capped (`MAX_BODY`, `MAX_SDP`) and checked: bad JSON or SDP gets a 4xx with
  one sentence; control messages that make no sense are ignored;
- `max_sessions` caps the load (more are refused with 503, the others unaffected); one client
  address may start `SESSIONS_PER_MINUTE` sessions and `ROOMS_PER_MINUTE` rooms a minute (429);
- a vanished peer (a closed laptop: no goodbye, its video just stops) is closed `PEER_SILENCE_S`
  (10 s) after the last video packet the server took in from it, plus up to one
  `WATCHDOG_PERIOD_S` (1 s) and whatever a busy event loop adds, with one log line; a peer that never sends video, after
  `NO_MEDIA_TIMEOUT_S` (20 s); a connection aiortc reports failed (ICE, DTLS) or closed, at once;
  a closing session's place is free at once, and its memory is collected soon after;
- room tokens are 256 random bits, kept only as their SHA-256 and compared in constant time; a room
  with nobody in it (never joined, or left by the last person) is removed after `ROOM_IDLE_S`
  (10 minutes), and at most `MAX_ROOMS` exist at once (503); rooms hold `room_capacity` people;
- ICE servers are only those configured (none by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from streamer.engines.base import StyleEngine
from streamer.engines.options import EngineOptions
from streamer.engines.registry import available_styles
from streamer.errors import DeviceUnavailableError, StreamerError
from streamer.pipeline.live import LiveControls, LiveOptions, LivePipeline
from streamer.server.tracks import ForwardAudioTrack, ForwardVideoTrack, IncomingVideo

log = logging.getLogger("streamer")

PAGE_FILES = ("index.html", "app.js", "chart.js", "style.css")
MAX_BODY = 64 * 1024  # bytes of a request body (413 past it)
TOO_LARGE = f"the request body is over {MAX_BODY // 1024} KiB"
MAX_SDP = 32 * 1024  # characters of an offer's session description
MAX_MEDIA_SECTIONS = 8  # m= lines in an offer (a browser sends 2 or 3)
MAX_CONTROL_MESSAGE = 4096  # bytes of a DataChannel control message (longer ones are ignored)
MAX_STYLE_NAME = 64  # characters of a style name quoted back in an error
NO_MEDIA_TIMEOUT_S = 20.0  # a session whose peer never sent a video frame is closed after this
PEER_SILENCE_S = 10.0  # a session whose video sent no frame for this long is closed (a vanished peer)
WATCHDOG_PERIOD_S = 1.0  # how often sessions and rooms are checked
# A closed connection's codecs (and their FFmpeg threads) sit in reference cycles until the garbage
# collector runs: it is run this long after a session closes (once for a burst of closes), then the
# freed heap is given back. A collection pauses the event loop about 0.1 s on two cores.
COLLECT_AFTER_CLOSE_S = 5.0
SHUTDOWN_JOIN_S = 10.0  # how long shutting down waits for each session's thread to end
ROOM_IDLE_S = 600.0  # a room with nobody in it for this long is removed
MAX_ROOMS = 100  # rooms that may exist at once
ROOM_TOKEN_BYTES = 32  # 256 bits from `secrets`
MAX_ROOM_TOKEN = 128  # characters: a longer "token" is not looked up
SESSIONS_PER_MINUTE = 30.0  # sessions one client address may start a minute (a burst of as many)
ROOMS_PER_MINUTE = 10.0  # rooms one client address may create a minute (a burst of as many)
MAX_RATE_ADDRESSES = 10_000  # client addresses the rate caps remember at once
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the page's address may carry a room token
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob: mediastream:; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
}


@dataclass
class ServerOptions(EngineOptions):
    """Every session's engine options (`EngineOptions`; `style` is the page's default, and each
    session gets its share of the cores instead of `threads`), then the server's own: the limits
    default to this module's constants."""

    max_faces: int = 4
    detect_every: int = 10
    max_sessions: int = 4
    room_capacity: int = 2
    ice_servers: list[dict] = field(default_factory=list)  # [{"urls": ..., "username": ..., "credential": ...}]
    fps: float = 30.0
    latency_budget_ms: float | None = None
    open_engine: Callable[[str], StyleEngine] | None = None  # for tests: style -> engine
    peer_silence_s: float = PEER_SILENCE_S
    no_media_timeout_s: float = NO_MEDIA_TIMEOUT_S
    room_idle_s: float = ROOM_IDLE_S
    max_rooms: int = MAX_ROOMS
    sessions_per_minute: float = SESSIONS_PER_MINUTE
    rooms_per_minute: float = ROOMS_PER_MINUTE


def page_files() -> dict[str, Path]:
    """The page's files by name: the package data `streamer.webpage` of an install from a wheel, or
    the top-level `web/` folder of a checkout (run in place, or installed in editable mode)."""
    folders: list[Path | resources.abc.Traversable] = [Path(__file__).resolve().parents[2] / "web"]
    with contextlib.suppress(ModuleNotFoundError):  # not importable from a checkout
        folders.insert(0, resources.files("streamer.webpage"))
    for folder in folders:
        files = {name: folder / name for name in PAGE_FILES}
        if all(path.is_file() for path in files.values()):
            return {name: Path(str(path)) for name, path in files.items()}
    raise StreamerError(f"the page files ({', '.join(PAGE_FILES)}) are missing; reinstall streamer")


def release_freed_memory() -> None:
    """Give the heap that freed memory left behind back to the system (glibc's `malloc_trim`; nothing
    elsewhere). A session frees hundreds of megabytes of frames and model buffers across many
    threads' arenas, which glibc otherwise keeps: an idle server that had served 60 sessions held
    1.4 GB instead of 0.4 GB."""
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


AIORTC_TASKS = ("RTCPeerConnection.", "RTCSctpTransport.", "RTCDtlsTransport.", "RTCRtpSender.", "RTCRtpReceiver.")


def aiortc_task_failure(context: dict) -> str | None:
    """For an exception that a background task of aiortc's raised (the event loop reports those
    nobody awaited): "teardown" when a connection was closing (the SCTP transport still sending
    through a DTLS transport that is shut: ConnectionError, or OpenSSL's "protocol is shutdown";
    aiortc issue 1040), else "connection" (aiortc failing on what a peer sent); None when it is
    not aiortc's. Either way only that connection is affected, and its session is closed by the
    watchdog if it does not close itself."""
    exception, future = context.get("exception"), context.get("future")
    coroutine = future.get_coro() if isinstance(future, asyncio.Task) else None
    name = getattr(coroutine, "__qualname__", "")
    if exception is None or not name.startswith(AIORTC_TASKS):
        return None
    by_openssl = type(exception).__module__.startswith("OpenSSL")
    closing = name.startswith(("RTCSctpTransport.", "RTCDtlsTransport.")) and (
        isinstance(exception, ConnectionError) or by_openssl
    )
    return "teardown" if closing else "connection"


def check_dtls_fingerprints(sdp: str) -> None:
    """ValueError unless every media section of `sdp` names a DTLS fingerprint (aiortc takes an
    offer without one, then fails an assertion in the background when it connects)."""
    from aiortc.sdp import SessionDescription

    for media in SessionDescription.parse(sdp).media:
        if media.dtls is None or not media.dtls.fingerprints:
            raise ValueError(f"the {media.kind} section has no DTLS fingerprint")


async def close_connection(pc) -> None:
    """`pc.close()`; when aiortc fails halfway (an offer applied only in part leaves transceivers
    without transports), every transport that exists is stopped instead, so no socket stays open."""
    try:
        await pc.close()
        return
    except Exception as exc:  # whatever aiortc raised, the transports are stopped below
        log.debug("closing a connection failed halfway", exc_info=exc)
    tops = [pc.sctp] + [t.receiver.transport for t in pc.getTransceivers()]
    tops += [t.sender.transport for t in pc.getTransceivers()]
    transports: list = []
    for transport in tops:
        while transport is not None and all(transport is not seen for seen in transports):
            transports.append(transport)  # SCTP, then the DTLS under it, then the ICE under that
            transport = getattr(transport, "transport", None)
    for transport in transports:
        with contextlib.suppress(Exception):
            await transport.stop()


class MalformedRequestFilter(logging.Filter):
    """Keeps aiohttp from logging a traceback for a request it could not even parse (a request line
    or header over its limits, bytes that are not HTTP): it has answered 400 already, and a server
    on a network gets such requests all the time. Any other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exception = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exception, HttpProcessingError) and 400 <= (exception.code or 0) < 500)


def quiet_malformed_requests() -> None:
    """Install `MalformedRequestFilter` on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in logger.filters):
        logger.addFilter(MalformedRequestFilter())


class BadRequest(Exception):
    """A client error: answered with 400 and this message."""


def refuse(kind: type[web.HTTPException], sentence: str) -> web.HTTPException:
    """`kind` (an aiohttp HTTP error) with the JSON body `{"error": sentence}`."""
    return kind(text=json.dumps({"error": sentence}), content_type="application/json")


class RateLimiter:
    """A token bucket per client address: full at `per_minute` tokens, refilled at `per_minute` a
    minute; each allowed action takes one. IPv6 addresses count by their /64 network (what one
    subscriber gets). Only addresses whose bucket is not full are remembered, at most
    `MAX_RATE_ADDRESSES` of them (the oldest are forgotten first), so memory stays bounded."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)

    @staticmethod
    def key(address: str | None) -> str:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return address or ""
        if ip.version == 6 and ip.ipv4_mapped is None:
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)

    def _tokens(self, key: str, now: float) -> float:
        tokens, when = self._buckets.get(key, (self.per_minute, now))
        return min(self.per_minute, tokens + (now - when) * self.per_minute / 60.0)

    def allow(self, address: str | None) -> bool:
        """Take a token for `address`: False when its bucket is empty."""
        key, now = self.key(address), self._clock()
        tokens = self._tokens(key, now)
        self._buckets.pop(key, None)  # re-inserted last: the dict stays ordered oldest first
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_RATE_ADDRESSES:
            self.forget_refilled()
            while len(self._buckets) > MAX_RATE_ADDRESSES:
                del self._buckets[next(iter(self._buckets))]
        return True

    def forget_refilled(self) -> None:
        """Forget the addresses whose bucket is full again (they are back where they started)."""
        now = self._clock()
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.per_minute]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class Session:
    """One browser peer: its connection, pipeline thread and forward tracks."""

    def __init__(self, server: StreamerServer, pc, mode: str, style: str, room: Room | None) -> None:
        self.id = secrets.token_hex(4)
        self.server, self.pc, self.mode, self.room = server, pc, mode, room
        self.video_out = ForwardVideoTrack()
        self.audio_out = ForwardAudioTrack() if mode == "room" else None
        self.controls = LiveControls(style, styles=server.styles())
        self.channel = None
        self.pipeline: LivePipeline | None = None
        self.latency_s = 0.0
        self.created_at = server.clock()
        self.last_packet_at: float | None = None  # when `note_packets` last saw video packets come in
        self._packets_received = 0
        self._incoming: IncomingVideo | None = None
        self._audio_task: asyncio.Task | None = None
        self._loop = asyncio.get_event_loop()
        self.closed = False

    # -- from the pipeline thread -----------------------------------------------------------------
    def _deliver(self, image) -> None:
        targets = [self] if self.mode == "mirror" or self.room is None else self.room.others(self)
        for target in targets:
            target.video_out.put(image)

    def _call_in_loop(self, callback, *args) -> None:
        """Run `callback` on the server's event loop; dropped once that loop has closed (shutdown)."""
        with contextlib.suppress(RuntimeError):  # closed: the server is shutting down
            self._loop.call_soon_threadsafe(callback, *args)

    def send(self, message: dict) -> None:
        """Send a control message to this peer (thread-safe)."""

        def _send() -> None:
            if self.channel is not None and self.channel.readyState == "open" and not self.closed:
                self.channel.send(json.dumps(message))

        self._call_in_loop(_send)

    # -- media ------------------------------------------------------------------------------------
    def start_video(self, track) -> None:
        """Stylize `track` on a pipeline thread of its own (only the peer's first video track)."""
        if self._incoming is not None or self.closed:
            return
        server = self.server
        incoming = self._incoming = IncomingVideo(track, server.clock)
        incoming.start()
        session = self

        class TrackSink:
            name, queue_frames = "peer", 1

            def open(self, width, height, fps):
                pass

            def write(self, frame):
                session._call_in_loop(session._deliver, frame.image)

            def close(self):
                pass

        def on_stats(record: dict) -> None:
            if record["latency_ms_p50"] is not None:
                self.latency_s = record["latency_ms_p50"] / 1000.0
            self.send({"stats": record})

        engine = server.options.engine_options().replace(
            style=self.controls.style,
            # The cores shared among the sessions the server may hold: one session gets them all.
            threads=max(1, (os.cpu_count() or 1) // server.options.max_sessions),
        )
        options = LiveOptions(
            **engine.engine_fields(),
            fps=server.options.fps,
            latency_budget_ms=server.options.latency_budget_ms,
            max_faces=server.options.max_faces,
            detect_every=server.options.detect_every,
        )
        self.pipeline = LivePipeline(
            lambda: incoming,
            [TrackSink()],
            options,
            self.controls,
            open_engine=server.options.open_engine,
            on_stats=on_stats,
            status=lambda text: self.send({"status": text}),
        )
        thread = threading.Thread(
            target=self._run_pipeline, args=(self.pipeline,), name=f"session {self.id}", daemon=True
        )
        server.pipeline_threads.add(thread)
        thread.start()

    def _run_pipeline(self, pipeline: LivePipeline) -> None:
        """The session's thread: the pipeline until it ends, then the session closes with it."""
        try:
            pipeline.run()
        except StreamerError as exc:  # the style could not be opened here
            log.warning("session %s: %s", self.id, exc)
            self.send({"status": f"stopped: {exc}"})
        except Exception as exc:  # a bug: its traceback goes to the log
            log.error("session %s: the pipeline failed", self.id, exc_info=exc)
            self.send({"status": f"stopped: the pipeline failed ({type(exc).__name__})"})
        finally:
            self.server.pipeline_threads.discard(threading.current_thread())
            self._call_in_loop(self.server.spawn_close, self)

    def start_audio(self, track) -> None:
        """Relay `track` to the others in the room (only the peer's first audio track)."""
        if self._audio_task is not None or self.closed:
            return

        async def relay() -> None:
            from aiortc.mediastreams import MediaStreamError

            try:
                while True:
                    frame = await track.recv()
                    if self.room is not None:
                        for other in self.room.others(self):
                            if other.audio_out is not None:
                                other.audio_out.put(frame, self.latency_s)
            except MediaStreamError:
                return

        self._audio_task = asyncio.ensure_future(relay())

    def on_message(self, data: str | bytes) -> None:
        """A control message from the page: a JSON object with any of `style` (a name /api/styles
        offers), `strength` (a finite number, clipped to 0..1) and `background` (true or false).
        Anything else (not JSON, too long, other types or names) is ignored."""
        if len(data) > MAX_CONTROL_MESSAGE:
            return
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested past recursion
            return
        if not isinstance(message, dict):
            return
        style, strength, background = message.get("style"), message.get("strength"), message.get("background")
        if isinstance(style, str) and style in self.server.styles():
            self.controls.set_style(style)
        if isinstance(strength, (int, float)) and not isinstance(strength, bool) and math.isfinite(strength):
            self.controls.set_strength(float(strength))
        if isinstance(background, bool) and background != self.controls.background:
            self.controls.toggle_background()

    async def note_packets(self, now: float) -> None:
        """Note whether video packets came in since the last call (the receivers' public stats).
        Packets show the peer is there even while a busy server is still decoding older frames:
        without them, a decoding backlog would keep a vanished peer's session open for as long."""
        received = 0
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind != "video":
                continue
            try:
                report = await transceiver.receiver.getStats()
            except Exception:  # a connection that is closing has no stats to give
                return
            received += sum(getattr(s, "packetsReceived", 0) for s in report.values() if s.type == "inbound-rtp")
        if received != self._packets_received:
            self._packets_received, self.last_packet_at = received, now

    def silence(self, now: float) -> str | None:
        """Why this session should be closed at `now` for want of video, or None: no frame within
        `no_media_timeout_s` of its start, or no video packet (no frame, where packets cannot be
        counted) for `peer_silence_s`."""
        options = self.server.options
        last_frame = self._incoming.last_frame_at if self._incoming is not None else None
        if last_frame is None:
            if now - self.created_at >= options.no_media_timeout_s:
                return f"no video came within {options.no_media_timeout_s:g} s"
            return None
        # Packets when they are known (a backlog of frames still being decoded is not the peer).
        last = self.last_packet_at if self.last_packet_at is not None else last_frame
        if now - last >= options.peer_silence_s:
            return f"no video for {options.peer_silence_s:g} s (the peer is gone)"
        return None

    async def close(self) -> None:
        """Stop the pipeline and the connection and give the place back (once; safe to repeat)."""
        if self.closed:
            return
        self.closed = True
        self.controls.quit.set()
        if self._incoming is not None:
            self._incoming.stop()
        if self._audio_task is not None:
            self._audio_task.cancel()
        self.server.sessions.discard(self)  # the place is free at once, before the connection has closed
        if self.room is not None:
            self.room.leave(self, self.server.clock())
        await close_connection(self.pc)
        self.server.collect_soon()


class Room:
    """A call room: known by the SHA-256 of its token only; `empty_since` is when the last person
    left (or when it was made), None while someone is in."""

    def __init__(self, digest: bytes, capacity: int, now: float) -> None:
        self.digest, self.capacity = digest, capacity
        self.members: list[Session] = []
        self.empty_since: float | None = now

    def others(self, session: Session) -> list[Session]:
        return [m for m in self.members if m is not session]

    def join(self, session: Session) -> None:
        if len(self.members) >= self.capacity:
            raise refuse(web.HTTPForbidden, f"this room is full ({self.capacity} people)")
        self.members.append(session)
        self.empty_since = None
        for other in self.others(session):
            other.send({"event": "peer-joined"})

    def leave(self, session: Session, now: float) -> None:
        if session in self.members:
            self.members.remove(session)
            for other in self.members:
                other.send({"event": "peer-left"})
            if not self.members:
                self.empty_since = now


def token_digest(token: str) -> bytes:
    """The SHA-256 of a room token (any string, lone surrogates included)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class StreamerServer:
    """The app's state: sessions, rooms, rate caps and the watchdog. `clock` (monotonic seconds)
    times silence, room idleness and the rate caps."""

    def __init__(self, options: ServerOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.clock = clock
        self.sessions: set[Session] = set()
        self.rooms: dict[bytes, Room] = {}  # by the SHA-256 of the token
        self.page = page_files()
        self.session_rate = RateLimiter(options.sessions_per_minute, clock)
        self.room_rate = RateLimiter(options.rooms_per_minute, clock)
        self._tasks: set[asyncio.Future] = set()
        self._watchdog: asyncio.Task | None = None
        self._collect: asyncio.TimerHandle | None = None
        self.pipeline_threads: set[threading.Thread] = set()  # sessions' threads still running

    def styles(self) -> list[str]:
        """The styles a session may pick: those that can be opened here (as `streamer live` steps through)."""
        return available_styles()

    def find_room(self, token: object) -> Room | None:
        """The room whose token is `token`, or None.

        Rooms are kept by the SHA-256 of their token, never the token: how long the dictionary
        lookup takes depends on the digest of what was sent, which a guesser cannot steer toward a
        real token's digest, so timing tells nothing about a token's characters; the digests are
        then compared in constant time (`hmac.compare_digest`)."""
        if not isinstance(token, str) or not token or len(token) > MAX_ROOM_TOKEN:
            return None
        digest = token_digest(token)
        room = self.rooms.get(digest)
        return room if room is not None and hmac.compare_digest(room.digest, digest) else None

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run `coroutine` on the loop, holding it until it is done."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def collect_soon(self) -> None:
        """Collect garbage and give the freed heap back `COLLECT_AFTER_CLOSE_S` from now (once)."""
        if self._collect is None:
            self._collect = asyncio.get_running_loop().call_later(COLLECT_AFTER_CLOSE_S, self._collect_now)

    def _collect_now(self) -> None:
        self._collect = None
        gc.collect()
        release_freed_memory()

    def spawn_close(self, session: Session) -> None:
        if not session.closed:
            self.spawn(session.close())

    async def sweep(self) -> None:
        """Close the sessions whose peer went silent (one log line each) and remove the rooms that
        have been empty for `room_idle_s`."""
        now = self.clock()
        for session in list(self.sessions):
            await session.note_packets(now)
        for session in list(self.sessions):
            reason = session.silence(now) if not session.closed else None
            if reason is not None:
                log.warning("session %s closed: %s", session.id, reason)
                self.spawn_close(session)
        idle = self.options.room_idle_s
        for digest, room in list(self.rooms.items()):
            if room.empty_since is not None and now - room.empty_since >= idle:
                del self.rooms[digest]
        self.session_rate.forget_refilled()
        self.room_rate.forget_refilled()

    async def _watch(self) -> None:
        o = self.options
        period = max(0.01, min(WATCHDOG_PERIOD_S, o.peer_silence_s / 4, o.no_media_timeout_s / 4, o.room_idle_s / 4))
        while True:
            await asyncio.sleep(period)
            await self.sweep()

    # -- HTTP -------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        quiet_malformed_requests()
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors, self._json_posts_only])
        app.router.add_get("/", self._index)
        for name in PAGE_FILES[1:]:
            app.router.add_get(f"/{name}", self._asset)
        app.router.add_get("/api/styles", self._styles)
        app.router.add_post("/api/rooms", self._new_room)
        app.router.add_post("/api/offer", self._offer)
        app.on_response_prepare.append(self._headers)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._shutdown)
        return app

    @web.middleware
    async def _errors(self, request, handler):
        try:
            return await handler(request)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except web.HTTPException as exc:
            if exc.content_type == "application/json" or exc.status < 400:
                raise
            sentence = TOO_LARGE if exc.status == 413 else exc.reason
            return web.json_response({"error": sentence}, status=exc.status)

    @web.middleware
    async def _json_posts_only(self, request, handler):
        # A cross-site HTML form can only post form or plain-text bodies, and a script on another
        # site must first pass a CORS preflight to send JSON, which this server never grants.
        if request.method == "POST" and request.content_type.lower() != "application/json":
            raise refuse(web.HTTPUnsupportedMediaType, "send the request as JSON (Content-Type: application/json)")
        if (request.content_length or 0) > MAX_BODY:  # refused now, not after waiting for a body that never ends
            return web.json_response({"error": TOO_LARGE}, status=413)
        return await handler(request)

    async def _headers(self, request, response) -> None:
        response.headers.update(SECURITY_HEADERS)
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"

    async def _on_startup(self, app) -> None:
        self._watchdog = asyncio.ensure_future(self._watch())
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()

        def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
            failure, exception = aiortc_task_failure(context), context.get("exception")
            if failure == "teardown":
                log.debug("a closing connection's transport failed: %r", exception)
            elif failure == "connection":  # one line: a peer's bad input, not a bug of ours
                log.warning("a connection failed in aiortc (%s: %s)", type(exception).__name__, str(exception)[:200])
            elif previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handle)

    async def _index(self, request):
        return web.FileResponse(self.page["index.html"])

    async def _asset(self, request):
        # Only the page's own names are routed: no request can name another file.
        return web.FileResponse(self.page[request.match_info.route.resource.canonical.lstrip("/")])

    async def _styles(self, request):
        return web.json_response({"styles": self.styles(), "default": self.options.style})

    async def _new_room(self, request):
        if not self.room_rate.allow(request.remote):
            raise refuse(web.HTTPTooManyRequests, "too many new rooms from this address; wait a minute")
        if len(self.rooms) >= self.options.max_rooms:
            raise refuse(
                web.HTTPServiceUnavailable,
                f"the server holds its limit of {self.options.max_rooms} rooms; try again later",
            )
        token = secrets.token_urlsafe(ROOM_TOKEN_BYTES)
        digest = token_digest(token)
        self.rooms[digest] = Room(digest, self.options.room_capacity, self.clock())
        return web.json_response({"room": token})

    async def _read_offer(self, request) -> dict:
        """The offer's JSON object, checked (BadRequest with one sentence otherwise)."""
        try:
            body = json.loads(await request.read())
        except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested past recursion
            raise BadRequest("the request body must be JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        sdp, kind = body.get("sdp"), body.get("type")
        if not isinstance(sdp, str) or kind != "offer" or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
            raise BadRequest("expected {'type': 'offer', 'sdp': ...} with a session description")
        if "\nm=video " not in sdp:
            raise BadRequest("the offer has no video: send a camera track")
        if sdp.count("\nm=") > MAX_MEDIA_SECTIONS:
            raise BadRequest(f"the offer has more than {MAX_MEDIA_SECTIONS} media sections")
        if body.get("mode", "mirror") not in ("mirror", "room"):
            raise BadRequest("mode must be 'mirror' or 'room'")
        style = body.get("style") or self.options.style
        if not isinstance(style, str) or style not in self.styles():
            shown = style[:MAX_STYLE_NAME] if isinstance(style, str) else style.__class__.__name__
            raise BadRequest(f"unknown or uninstalled style {shown!r}; available: {', '.join(self.styles())}")
        return body

    async def _offer(self, request):
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

        body = await self._read_offer(request)
        sdp, mode, style = body["sdp"], body.get("mode", "mirror"), body.get("style") or self.options.style
        room = None
        if mode == "room":
            room = self.find_room(body.get("room"))
            if room is None:
                raise refuse(
                    web.HTTPNotFound,
                    "no such room (a room nobody is in is removed after "
                    f"{self.options.room_idle_s / 60:g} minutes); make a new one",
                )
        if len(self.sessions) >= self.options.max_sessions:
            raise refuse(
                web.HTTPServiceUnavailable,
                f"the server is at its limit of {self.options.max_sessions} sessions; try again later",
            )
        if not self.session_rate.allow(request.remote):
            raise refuse(web.HTTPTooManyRequests, "too many new sessions from this address; wait a minute")
        ice = [RTCIceServer(**server) for server in self.options.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice))
        session = Session(self, pc, mode, style, room)
        try:
            if room is not None:
                room.join(session)
        except web.HTTPException:
            await close_connection(pc)
            raise
        self.sessions.add(session)

        @pc.on("datachannel")
        def on_datachannel(channel):
            if session.channel is not None:  # the first channel is the control channel; others are ignored
                return
            session.channel = channel
            channel.on("message", session.on_message)
            if room is not None and room.others(session):
                # Whoever joins second learns here, once its channel is open, that the other is in.
                session.send({"event": "peer-joined"})

        @pc.on("track")
        def on_track(track):
            if track.kind == "video":
                session.start_video(track)
            elif track.kind == "audio" and mode == "room":
                session.start_audio(track)

        @pc.on("connectionstatechange")
        async def on_state():
            if pc.connectionState in ("failed", "closed"):
                await session.close()

        try:
            check_dtls_fingerprints(sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            kinds = {"video": session.video_out, "audio": session.audio_out}
            for transceiver in pc.getTransceivers():
                track = kinds.pop(transceiver.kind, None)  # our track goes on the first of each kind
                if track is not None:
                    pc.addTrack(track)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc's parser fails in many ways (asserts among them)
            log.debug("an offer could not be used", exc_info=exc)
            await session.close()
            # aiortc's own words where it explains (a ValueError), else only that it is malformed.
            reason = str(exc)[:200] if isinstance(exc, ValueError) and str(exc) else "it is malformed"
            raise BadRequest(f"the session description could not be used: {reason}") from None
        return web.json_response(
            {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type, "session": session.id}
        )

    async def _shutdown(self, app) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._collect is not None:
            self._collect.cancel()
        await asyncio.gather(*(s.close() for s in list(self.sessions)))
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # The pipelines end once their sessions are closed: let them release their models before
        # the interpreter exits (a MediaPipe graph torn down at exit aborts the process).
        loop = asyncio.get_running_loop()
        for thread in list(self.pipeline_threads):
            await loop.run_in_executor(None, thread.join, SHUTDOWN_JOIN_S)


def loopback_ice_only() -> None:
    """Offer only 127.0.0.1 as ICE host candidate (aioice leaves it out): for machines or network
    namespaces with nothing but loopback, such as tests."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def run(host: str, port: int, options: ServerOptions, cert: Path | None = None, key: Path | None = None) -> None:
    import ssl
    import sys

    ssl_context = None
    if cert or key:
        if not (cert and key):
            raise StreamerError("give both --cert and --key")
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as exc:
            raise StreamerError(f"cannot use {cert} and {key} for HTTPS: {exc.strerror or exc}") from exc
    if host not in ("127.0.0.1", "localhost", "::1") and ssl_context is None:
        print(
            f"streamer: warning: serving on {host} without HTTPS; browsers only allow cameras on https:// "
            "pages or on localhost (give --cert and --key)",
            file=sys.stderr,
        )
    scheme = "https" if ssl_context else "http"
    print(
        f"streamer: open {scheme}://{host}:{port}/ (mirror) or {scheme}://{host}:{port}/?autostart=1 "
        "for an OBS Browser Source",
        file=sys.stderr,
    )
    try:
        web.run_app(StreamerServer(options).app(), host=host, port=port, ssl_context=ssl_context, print=None)
    except OSError as exc:  # the address is taken, or not this machine's
        raise DeviceUnavailableError(f"cannot serve on {host}:{port} ({exc.strerror}); pick another --port") from exc
