"""Hostile requests to `streamer serve`: the server fuzzer (`benchmarks/fuzz_server.py`, through
`benchmarks/fuzz.py --area server`) with a few cases, the cross-site rules (JSON posts only, no
CORS header), and the cases the fuzzer found, kept as plain tests. BENCHMARKS.md has the long runs."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import subprocess
import sys

import pytest

pytest.importorskip("aiortc")
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from streamer.server import server as web_server

from .benchmark_modules import benchmark_script, load_benchmark

fuzz_server = load_benchmark("fuzz_server")
web_server.loopback_ice_only()


async def _serve(**options) -> tuple[TestServer, str, web_server.StreamerServer]:
    server = web_server.StreamerServer(web_server.ServerOptions(**options))
    test_server = TestServer(server.app(), host="127.0.0.1")
    await test_server.start_server()
    return test_server, f"http://127.0.0.1:{test_server.port}", server


async def _offer_sdp() -> str:
    """A real offer's session description (camera and control channel), as the page sends it."""
    load = load_benchmark("serve_load")
    client = load.Client(load.face_frames((320, 240), 1))
    await client.pc.setLocalDescription(await client.pc.createOffer())
    sdp = client.pc.localDescription.sdp
    await client.close()
    return sdp


@pytest.mark.slow
def test_a_few_fuzz_cases_against_a_running_server_are_all_handled(tmp_path):
    report = tmp_path / "fuzz.json"
    command = [sys.executable, str(benchmark_script("fuzz")), "--area", "server", "--cases", "10", "--seed", "5"]
    done = subprocess.run(
        [*command, "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.exists(), done.stderr[-2000:]
    cases = json.loads(report.read_text())["cases"]
    failures = [c for c in cases if c["verdict"] != "pass"]
    assert done.returncode == 0 and not failures, failures or done.stdout
    assert {c["seed_name"] for c in cases} == {"offer", "sdp", "path", "request", "channel", "after the run"}


def test_the_mutations_are_seeded():
    def descriptions(seed: int) -> list[str]:
        rng = random.Random(seed)
        offer = {"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n", "type": "offer"}
        made = [fuzz_server.mutate_offer(offer, rng)[0] for _ in range(10)]
        made += [fuzz_server.mutate_sdp(offer, rng)[0] for _ in range(10)]
        made += [fuzz_server.mutate_path(rng)[0] for _ in range(10)]
        made += [fuzz_server.mutate_request(rng)[0] for _ in range(10)]
        return made + [fuzz_server.channel_message(rng)[0] for _ in range(10)]

    assert descriptions(4) == descriptions(4)
    assert descriptions(4) != descriptions(5)


def test_posts_must_be_json_and_no_cors_header_is_ever_sent():
    """A cross-site form can only post form or text bodies; a cross-site script must pass a CORS
    preflight to send JSON, and the server never grants one."""

    async def scenario():
        test_server, base, _ = await _serve()
        answers = {}
        evil = {"Origin": "https://evil.example"}
        try:
            async with ClientSession() as http:
                for name, content_type in (
                    ("text", "text/plain"),
                    ("form", "application/x-www-form-urlencoded"),
                    ("multipart", "multipart/form-data; boundary=x"),
                ):
                    for path in ("/api/offer", "/api/rooms"):
                        async with http.post(
                            base + path, data=b"{}", headers={**evil, "Content-Type": content_type}
                        ) as response:
                            answers[name, path] = (response.status, await response.json(), dict(response.headers))
                preflight = {
                    **evil,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                }
                for path in ("/api/offer", "/api/rooms", "/api/styles", "/"):
                    async with http.options(base + path, headers=preflight) as response:
                        answers["preflight", path] = (response.status, None, dict(response.headers))
                for path in ("/", "/app.js", "/api/styles"):
                    async with http.get(base + path, headers=evil) as response:
                        answers["get", path] = (response.status, None, dict(response.headers))
                async with http.post(base + "/api/rooms", json={}, headers=evil) as response:
                    answers["json", "/api/rooms"] = (response.status, None, dict(response.headers))
        finally:
            await test_server.close()
        return answers

    answers = asyncio.run(scenario())
    for (kind, path), (status, body, headers) in answers.items():
        assert not any(h.lower().startswith("access-control-") for h in headers), (kind, path)
        if kind in ("text", "form", "multipart"):
            assert status == 415 and body == {"error": "send the request as JSON (Content-Type: application/json)"}
        elif kind == "preflight":
            assert status == 405, path
        else:
            assert status == 200
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


# Cases the fuzzer found, kept as plain tests.


def test_offers_that_aiortc_cannot_parse_half_applies_or_takes_without_a_fingerprint_get_400():
    async def scenario():
        sdp = await _offer_sdp()
        lines = sdp.split("\r\n")
        broken_media_line = "\r\n".join("m=video x\x01\x02" if line.startswith("m=video") else line for line in lines)
        no_channel = "\r\n".join(line for line in lines if not line.startswith("m=application"))
        no_video_mid = "\r\n".join(line for line in lines if line != "a=mid:0")
        no_fingerprint = "\r\n".join(line for line in lines if not line.startswith("a=fingerprint:"))
        test_server, base, server = await _serve()
        results = []
        try:
            async with ClientSession() as http:
                for description in (broken_media_line, no_channel, no_video_mid, no_fingerprint):
                    body = {"type": "offer", "sdp": description}
                    async with http.post(base + "/api/offer", json=body) as response:
                        results.append((response.status, (await response.json())["error"]))
            return results, len(server.sessions)
        finally:
            await test_server.close()

    results, sessions = asyncio.run(scenario())
    for status, error in results:
        assert status == 400 and error.startswith("the session description could not be used: ")
        assert "Traceback" not in error
    # aiortc took it, then failed an assertion in the background when connecting (a traceback)
    assert results[-1][1].endswith("the video section has no DTLS fingerprint")
    assert sessions == 0


def test_a_content_length_over_the_cap_is_refused_at_once():
    """Before: the server waited for a body that was never coming."""

    async def scenario():
        test_server, _, _ = await _serve()
        try:
            request = fuzz_server.Request(
                "POST",
                b"/api/offer",
                {"Content-Type": b"application/json", "Content-Length": b"9999999"},
                b'{"type": "offer"}',
            )
            return await fuzz_server.send(test_server.port, request, timeout=10)
        finally:
            await test_server.close()

    response = asyncio.run(scenario())
    assert response is not None and response.status == 413
    assert json.loads(response.body) == {"error": "the request body is over 64 KiB"}


def test_nested_json_and_control_messages_that_make_no_sense_are_ignored():
    async def scenario():
        test_server, base, server = await _serve()
        try:
            async with ClientSession() as http:
                nested = b"[" * 30000 + b"]" * 30000
                headers = {"Content-Type": "application/json"}
                async with http.post(base + "/api/offer", data=nested, headers=headers) as response:
                    offer = (response.status, await response.json())
            session = web_server.Session(server, None, "mirror", "toon", None)
            for message in (
                "[" * 20000 + "]" * 20000,
                json.dumps({"strength": float("nan")}),
                '{"strength": Infinity}',
                json.dumps({"strength": True, "background": 1, "style": "nope"}),
                json.dumps({"style": ["toon"], "strength": "0.3"}),
                b"\xff\xfe\x00garbage",
                json.dumps({"strength": 0.1, "pad": "x" * 5000}),
            ):
                session.on_message(message)
            controls = session.controls
            unchanged = (controls.strength, controls.background, controls.take_style_request())
            session.on_message(json.dumps({"strength": 7, "style": "poster", "background": False}))
            changed = (controls.strength, controls.background, controls.take_style_request())
            return offer, unchanged, changed
        finally:
            await test_server.close()

    offer, unchanged, changed = asyncio.run(scenario())
    assert offer == (400, {"error": "the request body must be JSON"})
    assert unchanged == (1.0, True, None)
    assert changed == (1.0, False, "poster")  # clipped to 0..1


def test_a_request_aiohttp_cannot_parse_is_answered_400_without_a_traceback_in_the_log(caplog):
    async def scenario():
        test_server, _, _ = await _serve()
        try:
            answers = []
            for target in (b"/" + b"a" * 9000, b"/app.js"):
                request = fuzz_server.Request("GET", target, {"X-Long": b"b" * (9000 if target == b"/app.js" else 1)})
                answers.append(await fuzz_server.send(test_server.port, request, timeout=10))
            return answers
        finally:
            await test_server.close()

    with caplog.at_level(logging.DEBUG):
        answers = asyncio.run(scenario())
    assert [a.status for a in answers if a is not None] == [400, 400]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
