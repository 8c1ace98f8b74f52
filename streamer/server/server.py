"""`streamer serve`: live cartoon video over WebRTC (aiohttp + aiortc), with its page.

Modes:
- mirror: the browser's camera comes back stylized (an OBS Browser Source with `?autostart=1`);
- room: two people in the same room (an unguessable token) each see the other stylized; audio is
  relayed untouched, held back by the measured video latency so lips and voice stay in sync.

Every session runs its own `LivePipeline` (thread): the newest incoming frame only, the latency
scheduler, stats over a DataChannel once a second (fps, latency, level, faces), and runtime
controls from the page (style, background, strength).

Safety: binds 127.0.0.1 unless told otherwise; serves only its own page files; request bodies are
capped and checked, and bad SDP or JSON gets a 4xx with one sentence; `max_sessions` caps the
load (more are refused, the others unaffected); rooms hold at most `room_capacity` people; ICE
servers are only those configured (none by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aiohttp import web

from streamer.engines.base import StyleEngine
from streamer.engines.options import EngineOptions
from streamer.engines.registry import available_styles
from streamer.errors import DeviceUnavailableError, StreamerError
from streamer.pipeline.live import LiveControls, LiveOptions, LivePipeline
from streamer.server.tracks import ForwardAudioTrack, ForwardVideoTrack, IncomingVideo

PAGE_FILES = ("index.html", "app.js", "chart.js", "style.css")
MAX_BODY = 64 * 1024
MAX_SDP = 32 * 1024
NO_MEDIA_TIMEOUT_S = 20.0


@dataclass
class ServerOptions(EngineOptions):
    """Every session's engine options (`EngineOptions`; `style` is the page's default, and each
    session gets its share of the cores instead of `threads`), then the server's own."""

    max_faces: int = 4
    detect_every: int = 10
    max_sessions: int = 4
    room_capacity: int = 2
    ice_servers: list[dict] = field(default_factory=list)  # [{"urls": ..., "username": ..., "credential": ...}]
    fps: float = 30.0
    latency_budget_ms: float | None = None
    open_engine: Callable[[str], StyleEngine] | None = None  # for tests: style -> engine


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


class BadRequest(Exception):
    """A client error: answered with 400 and this message."""


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
            if self.channel is not None and self.channel.readyState == "open":
                self.channel.send(json.dumps(message))

        self._call_in_loop(_send)

    # -- media ------------------------------------------------------------------------------------
    def start_video(self, track) -> None:
        server = self.server
        incoming = self._incoming = IncomingVideo(track)
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
        threading.Thread(target=self.pipeline.run, name=f"session {self.id}", daemon=True).start()

    def start_audio(self, track) -> None:
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

    def on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if isinstance(message.get("style"), str) and message["style"] in self.server.styles():
            self.controls.set_style(message["style"])
        if isinstance(message.get("strength"), (int, float)):
            self.controls.set_strength(float(message["strength"]))
        if isinstance(message.get("background"), bool) and message["background"] != self.controls.background:
            self.controls.toggle_background()

    def close_if_idle(self) -> None:
        """A peer that never sent video (a failed negotiation) gives its place back."""
        if self._incoming is None and not self.closed:
            self._closing = asyncio.ensure_future(self.close())

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.controls.quit.set()
        if self._incoming is not None:
            self._incoming.stop()
        if self._audio_task is not None:
            self._audio_task.cancel()
        await self.pc.close()
        self.server.sessions.discard(self)
        if self.room is not None:
            self.room.leave(self)


class Room:
    def __init__(self, token: str, capacity: int) -> None:
        self.token, self.capacity = token, capacity
        self.members: list[Session] = []

    def others(self, session: Session) -> list[Session]:
        return [m for m in self.members if m is not session]

    def join(self, session: Session) -> None:
        if len(self.members) >= self.capacity:
            raise web.HTTPForbidden(
                text=json.dumps({"error": f"this room is full ({self.capacity} people)"}),
                content_type="application/json",
            )
        self.members.append(session)
        for other in self.others(session):
            other.send({"event": "peer-joined"})

    def leave(self, session: Session) -> None:
        if session in self.members:
            self.members.remove(session)
            for other in self.members:
                other.send({"event": "peer-left"})


class StreamerServer:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.sessions: set[Session] = set()
        self.rooms: dict[str, Room] = {}
        self.page = page_files()

    def styles(self) -> list[str]:
        """The styles a session may pick: those that can be opened here (as `streamer live` steps through)."""
        return available_styles()

    # -- HTTP -------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors])
        app.router.add_get("/", self._index)
        for name in PAGE_FILES[1:]:
            app.router.add_get(f"/{name}", self._asset)
        app.router.add_get("/api/styles", self._styles)
        app.router.add_post("/api/rooms", self._new_room)
        app.router.add_post("/api/offer", self._offer)
        app.on_shutdown.append(self._shutdown)
        return app

    @web.middleware
    async def _errors(self, request, handler):
        try:
            return await handler(request)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except web.HTTPException as exc:
            if exc.content_type == "application/json":
                raise
            return web.json_response({"error": exc.reason}, status=exc.status)

    async def _index(self, request):
        return web.FileResponse(self.page["index.html"])

    async def _asset(self, request):
        # Only the page's own names are routed: no request can name another file.
        return web.FileResponse(self.page[request.path.lstrip("/")])

    async def _styles(self, request):
        return web.json_response({"styles": self.styles(), "default": self.options.style})

    async def _new_room(self, request):
        token = secrets.token_urlsafe(16)
        self.rooms[token] = Room(token, self.options.room_capacity)
        return web.json_response({"room": token})

    async def _offer(self, request):
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

        try:
            body = await request.json()
        except ValueError:
            raise BadRequest("the request body must be JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        sdp, kind = body.get("sdp"), body.get("type")
        if not isinstance(sdp, str) or kind != "offer" or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
            raise BadRequest("expected {'type': 'offer', 'sdp': ...} with a session description")
        if "\nm=video " not in sdp:
            raise BadRequest("the offer has no video: send a camera track")
        mode = body.get("mode", "mirror")
        if mode not in ("mirror", "room"):
            raise BadRequest("mode must be 'mirror' or 'room'")
        style = body.get("style") or self.options.style
        if style not in self.styles():
            raise BadRequest(f"unknown or uninstalled style {style!r}; available: {', '.join(self.styles())}")
        room = None
        if mode == "room":
            room = self.rooms.get(body.get("room") if isinstance(body.get("room"), str) else "")
            if room is None:
                raise web.HTTPNotFound(text=json.dumps({"error": "no such room"}), content_type="application/json")
        if len(self.sessions) >= self.options.max_sessions:
            return web.json_response(
                {"error": f"the server is at its limit of {self.options.max_sessions} sessions; try again later"},
                status=503,
            )
        ice = [RTCIceServer(**server) for server in self.options.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice))
        session = Session(self, pc, mode, style, room)
        if room is not None:
            room.join(session)
        self.sessions.add(session)

        @pc.on("datachannel")
        def on_datachannel(channel):
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
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    pc.addTrack(session.video_out)
                elif transceiver.kind == "audio" and session.audio_out is not None:
                    pc.addTrack(session.audio_out)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            await session.close()
            raise BadRequest(f"the session description could not be used: {str(exc)[:200]}") from None
        asyncio.get_event_loop().call_later(NO_MEDIA_TIMEOUT_S, session.close_if_idle)
        return web.json_response(
            {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type, "session": session.id}
        )

    async def _shutdown(self, app) -> None:
        await asyncio.gather(*(s.close() for s in list(self.sessions)))


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
