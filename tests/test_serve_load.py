"""`streamer serve` under load and churn, with real WebRTC peers (aiortc, in-process, loopback
only), and its limits: clients beyond `max_sessions` are refused while the admitted ones go on;
sessions that leave cleanly or vanish (a closed laptop) leave nothing behind; rooms expire and are
capped; rate caps; room tokens. The figures are `benchmarks/serve_load.py`'s (BENCHMARKS.md): these
tests never judge time, frame rate, latency or memory."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time

import numpy as np
import pytest

pytest.importorskip("aiortc")
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from streamer.server import server as web_server

from .benchmark_modules import benchmark_script, load_benchmark
from .fakes import FakeClock

SCRIPT = benchmark_script("serve_load")
VIDEO_SDP = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"


load = load_benchmark("serve_load")
web_server.loopback_ice_only()


@pytest.fixture(scope="module")
def frames():
    return load.face_frames((320, 240))


async def _serve(**options) -> tuple[TestServer, str, web_server.StreamerServer]:
    # Four VP8 streams and the pipelines share two cores here: a roomy budget keeps full quality.
    options.setdefault("latency_budget_ms", 400)
    server = web_server.StreamerServer(web_server.ServerOptions(**options))
    test_server = TestServer(server.app(), host="127.0.0.1")
    await test_server.start_server()
    return test_server, f"http://127.0.0.1:{test_server.port}", server


def _stylized(received: np.ndarray | None, frames: list[np.ndarray]) -> bool:
    """The picture came back changed: farther from every sent frame than codec noise would make it."""
    if received is None:
        return False
    same_size = [f for f in frames if f.shape == received.shape]
    above = slice(0, -load.BLOCK)  # the bottom rows carry the frame number's blocks
    distances = [np.abs(received[above].astype(int) - f[above].astype(int)).mean() for f in same_size]
    return bool(distances) and min(distances) > 6


def _session_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("session ")]


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _post(base: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    async with ClientSession() as http, http.post(base + path, json=body or {}) as response:
        return response.status, await response.json()


def test_clients_beyond_max_sessions_are_refused_and_the_admitted_ones_go_on(frames):
    async def scenario():
        test_server, base, server = await _serve(max_sessions=2)
        admitted = [load.Client(frames), load.Client(frames)]
        extra = [load.Client(frames), load.Client(frames)]
        try:
            for client in admitted:
                assert (await client.connect(base, mode="mirror"))[0] == 200
            assert await load.wait_until(lambda: all(c.received >= 5 for c in admitted), 60)
            refusals = [await client.connect(base, mode="mirror") for client in extra]
            held = len(server.sessions)
            marks = [c.received for c in admitted]
            going_on = await load.wait_until(
                lambda: all(c.received >= m + 15 for c, m in zip(admitted, marks, strict=True)), 60
            )
            return refusals, held, going_on, [c.last_image for c in admitted]
        finally:
            for client in admitted + extra:
                await client.close()
            await test_server.close()

    refusals, held, going_on, pictures = asyncio.run(scenario())
    for status, answer in refusals:
        assert status == 503
        assert answer["error"] == "the server is at its limit of 2 sessions; try again later"
    assert held == 2
    assert going_on, "an admitted client stopped receiving frames after the refusals"
    assert all(_stylized(picture, frames) for picture in pictures)


def test_churn_of_clean_and_vanished_sessions_leaves_nothing_behind(frames, caplog):
    """20 sessions, two at a time (every fifth visit a room of two); half leave cleanly, half
    vanish (their sockets go silent both ways, with no goodbye). Afterwards the server holds no
    session, room or pipeline thread, and the process as many descriptors as before; every
    vanished session was closed by the silence watchdog, with one log line."""

    async def scenario():
        test_server, base, server = await _serve(
            max_sessions=10, peer_silence_s=3.0, room_idle_s=1.0, sessions_per_minute=1e9, rooms_per_minute=1e9
        )
        log = load.new_log()
        try:
            await load.visit(base, frames, "toon", False, ["clean"], log)  # models loaded once
            assert await load.wait_until(lambda: not server.sessions and not _session_threads(), 30)
            gc.collect()
            start_fds, start_threads = _descriptors(), threading.active_count()
            log = load.new_log()
            gate = asyncio.Semaphore(2)

            async def run(room: bool, people: list[str]) -> None:
                async with gate:
                    await load.visit(base, frames, "toon", room, people, log)

            await asyncio.gather(*(run(room, people) for room, people in load.plan_visits(20)))
            settled = await load.wait_until(
                lambda: not server.sessions and not server.rooms and not _session_threads(), 90
            )
            held = (len(server.sessions), len(server.rooms), _session_threads())
        finally:
            for client in log["to_close"]:
                await client.close()
            await test_server.close()

        def back() -> bool:
            gc.collect()
            return _descriptors() <= start_fds + 4

        await load.wait_until(back, 20, 0.5)
        return log, settled, held, start_fds, _descriptors(), start_threads

    with caplog.at_level(logging.WARNING, logger="streamer"):
        log, settled, held, start_fds, end_fds, start_threads = asyncio.run(scenario())
    assert len(log["vanished"]) == 10 and len(log["clean"]) == 10
    assert settled, held
    assert held == (0, 0, [])
    assert end_fds <= start_fds + 4, (start_fds, end_fds)
    assert log["no_frames"] == 0
    closed_lines = [r.getMessage() for r in caplog.records if "closed: no video for 3 s" in r.getMessage()]
    for session_id in log["vanished"]:
        assert sum(line.startswith(f"session {session_id} ") for line in closed_lines) == 1, session_id
    assert threading.active_count() <= start_threads + 8  # the event loop's executor may have grown


def test_a_vanished_peer_in_a_room_is_closed_the_other_is_told_and_the_empty_room_expires(frames):
    async def scenario():
        # Long enough that a loaded machine's stall does not look like the staying peer vanishing.
        test_server, base, server = await _serve(peer_silence_s=2.5, room_idle_s=1.0)
        stays, goes = load.Client(frames), load.Client(frames)
        try:
            room = (await _post(base, "/api/rooms"))[1]["room"]
            assert (await stays.connect(base, mode="room", room=room))[0] == 200
            assert (await goes.connect(base, mode="room", room=room))[0] == 200
            assert await load.wait_until(lambda: stays.received >= 3 and goes.received >= 3, 60)
            goes.vanish()
            told = await load.wait_until(lambda: {"event": "peer-left"} in stays.messages, 30)
            room_kept = len(server.rooms) == 1 and len(server.sessions) == 1  # one is still in
            await stays.close()
            expired = await load.wait_until(lambda: not server.rooms and not server.sessions, 30)
            again = await load.Client(frames).connect(base, mode="room", room=room)
            return told, room_kept, expired, again
        finally:
            await stays.close()
            await goes.close()
            await test_server.close()

    told, room_kept, expired, (status, answer) = asyncio.run(scenario())
    assert told and room_kept and expired
    assert status == 404 and answer["error"].startswith("no such room")


def test_rooms_are_capped_and_removed_once_empty_for_a_while():
    async def scenario():
        test_server, base, server = await _serve(max_rooms=2, room_idle_s=0.5, rooms_per_minute=1e9)
        try:
            made = [await _post(base, "/api/rooms") for _ in range(3)]
            await load.wait_until(lambda: not server.rooms, 10)
            emptied = len(server.rooms)
            after = await _post(base, "/api/rooms")
            return made, emptied, after
        finally:
            await test_server.close()

    made, emptied, after = asyncio.run(scenario())
    assert [status for status, _ in made] == [200, 200, 503]
    assert made[2][1]["error"] == "the server holds its limit of 2 rooms; try again later"
    assert emptied == 0
    assert after[0] == 200


def test_sessions_and_rooms_from_one_address_are_rate_capped():
    async def scenario():
        test_server, base, server = await _serve(sessions_per_minute=2, rooms_per_minute=2)
        try:
            rooms = [await _post(base, "/api/rooms") for _ in range(3)]
            # These pass the checks and take a token each, then fail on the description (400).
            offers = [await _post(base, "/api/offer", {"type": "offer", "sdp": VIDEO_SDP}) for _ in range(3)]
            return rooms, offers, len(server.sessions)
        finally:
            await test_server.close()

    rooms, offers, sessions = asyncio.run(scenario())
    assert [status for status, _ in rooms] == [200, 200, 429]
    assert rooms[2][1]["error"] == "too many new rooms from this address; wait a minute"
    assert [status for status, _ in offers] == [400, 400, 429]
    assert offers[2][1]["error"] == "too many new sessions from this address; wait a minute"
    assert sessions == 0


def test_the_rate_cap_refills_counts_ipv6_by_network_and_remembers_a_bounded_number_of_addresses(monkeypatch):
    clock = FakeClock()
    limiter = web_server.RateLimiter(per_minute=2, clock=clock)
    assert [limiter.allow("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert limiter.allow("10.0.0.2")  # another address has its own bucket
    clock.advance(30)  # one token back
    assert [limiter.allow("10.0.0.1") for _ in range(2)] == [True, False]
    assert [limiter.allow(f"2001:db8::{n}") for n in (1, 2, 3)] == [True, True, False]  # one /64
    assert limiter.allow("2001:db8:0:1::1")
    assert web_server.RateLimiter.key("::ffff:10.0.0.3") == "10.0.0.3"  # IPv4 mapped into IPv6
    clock.advance(120)
    limiter.forget_refilled()
    assert len(limiter) == 0
    monkeypatch.setattr(web_server, "MAX_RATE_ADDRESSES", 50)
    for n in range(200):
        limiter.allow(f"10.1.{n // 250}.{n % 250}")
    assert len(limiter) <= 50


def test_room_tokens_are_256_random_bits_kept_only_as_their_digest():
    server = web_server.StreamerServer(web_server.ServerOptions())

    async def scenario():
        test_server = TestServer(server.app(), host="127.0.0.1")
        await test_server.start_server()
        try:
            return [(await _post(f"http://127.0.0.1:{test_server.port}", "/api/rooms"))[1]["room"] for _ in range(2)]
        finally:
            await test_server.close()

    first, second = asyncio.run(scenario())
    assert len(first) >= 43 and first != second  # 32 bytes in URL-safe base64
    assert first not in server.rooms and all(isinstance(key, bytes) for key in server.rooms)
    assert server.find_room(first) is not None and server.find_room(second) is not server.find_room(first)
    wrong = first[:-1] + ("A" if first[-1] != "A" else "B")
    for token in (wrong, "", "x" * 10_000, None, 42, ["a"], "\ud800"):
        assert server.find_room(token) is None


def test_overlapping_silencing_of_native_stderr_leaves_stderr_in_place():
    """Two sessions loading MediaPipe at once used to leave fd 2 on /dev/null for good."""
    from streamer.tracking.landmarks import quiet_native_stderr

    before = os.fstat(2)
    ready = threading.Barrier(4)

    def load_models(seconds: float) -> None:
        ready.wait()
        with quiet_native_stderr():
            time.sleep(seconds)

    threads = [threading.Thread(target=load_models, args=(0.05 * (i + 1),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
