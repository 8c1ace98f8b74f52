"""Fuzz `streamer serve` with seeded mutations of what a client may send it.

    .venv/bin/python benchmarks/fuzz_server.py --cases 200 [--seed 1] [--json out.json]
    .venv/bin/python benchmarks/fuzz.py --area server --cases 200       (the same, from the runner)

A real `streamer serve --ice-loopback` runs in a subprocess (its stderr kept), with the rate caps
lifted (every case comes from 127.0.0.1) and room for 64 sessions (an accepted offer holds its
place until its no-media timeout, 20 s, since no client answers it). One reference mirror session
(an aiortc client sending a synthetic camera) is set up first and must keep receiving frames
throughout: it is checked every 10 cases and at the end.

Each case is one of, in turn:
- offer: POST /api/offer with a body mutated from a valid offer: not JSON (truncated, bit flips,
  random bytes, nested past the recursion limit, not UTF-8), JSON of the wrong type, fields of the
  wrong type or value (sdp, type, mode, style, room; NaN, huge numbers, lone surrogates), styles
  that are not registered, oversized bodies and descriptions, a wrong or odd Content-Type;
- sdp: a valid offer whose session description is mutated (lines dropped, duplicated, swapped or
  cut; numbers made huge or negative; random bytes; line ends changed; media sections multiplied);
- path: GET or HEAD of a path that tries to leave the page's files (../ plain and encoded once or
  twice, backslashes, NUL, overlong UTF-8, absolute paths, the repository's own files);
- request: other methods on every route (OPTIONS preflights with an Origin among them), POST
  /api/rooms with odd bodies and types, and bytes that are not HTTP;
- channel: a message on the reference session's control DataChannel: random bytes, random text,
  random JSON (the page's keys with random types and values, NaN and Infinity, deep nesting), and
  style names that are not registered.

A case passes when the server answers within the time limit (HTTP cases) with a status below 500,
or 503 with a JSON sentence (the session limit); a 200 for a page path must carry one of the
page's own files; no answer carries Access-Control-Allow-Origin; nothing new on the server's stderr
is a traceback; and a channel message switches to no style that is not registered. After the
cases: the server still runs and answers, the reference session still receives frames, and (once
the sessions the accepted offers opened have timed out) the server holds no more descriptors or
threads than before the cases. Any of those failing is a case of its own ("after the run").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

MAX_SESSIONS = 64
CHECK_EVERY = 10  # cases between two checks of the reference session
NO_MEDIA_TIMEOUT_S = 20.0  # the server's: sessions opened by accepted offers close after it
PAGE_NAMES = ("index.html", "app.js", "chart.js", "style.css")


@dataclass
class Case:
    area: str
    seed_name: str  # the kind of case: offer, sdp, path, request, channel
    mutation: str
    status: int | None = None
    seconds: float = 0.0
    verdict: str = ""
    message: str = ""
    details: dict = field(default_factory=dict)


@dataclass
class Request:
    """Raw HTTP: sent as given (no client normalizes the target or the headers)."""

    method: str
    target: bytes
    headers: dict[str, bytes] = field(default_factory=dict)
    body: bytes = b""
    raw: bytes | None = None  # instead of all of the above: these bytes as they are


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


# -- raw HTTP ---------------------------------------------------------------------------------------


async def send(port: int, request: Request, timeout: float) -> Response | None:
    """`request` to 127.0.0.1:`port` over a fresh connection; None when no answer came in time."""
    data = request.raw
    if data is None:
        headers = {"Host": b"127.0.0.1", "Connection": b"close", "Content-Length": str(len(request.body)).encode()}
        headers.update(request.headers)
        data = request.method.encode() + b" " + request.target + b" HTTP/1.1\r\n"
        data += b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers.items())
        data += b"\r\n" + request.body
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        writer.write(data)
        await writer.drain()
        if request.raw is not None:
            writer.write_eof()
        answer = await asyncio.wait_for(_read_response(reader, request.method == "HEAD"), timeout)
    except asyncio.TimeoutError:
        return None
    except OSError:
        answer = b""
    finally:
        writer.close()
    return parse_response(answer)


async def _read_response(reader: asyncio.StreamReader, head_only: bool) -> bytes:
    """One response: up to the end its headers announce (the server may keep the connection open
    a while after it, reading what is left of a refused body), or to the end of the connection."""
    data = b""
    while chunk := await reader.read(65536):
        data += chunk
        head, found, body = data.partition(b"\r\n\r\n")
        if not found:
            continue
        headers = parse_response(head + b"\r\n\r\n").headers
        length = headers.get("content-length", "")
        if head_only or (length.isdigit() and len(body) >= int(length)):
            break
        if headers.get("transfer-encoding") == "chunked" and body.endswith(b"0\r\n\r\n"):
            break
    return data


def parse_response(data: bytes) -> Response:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return Response(status, headers, body)


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, body = out + rest[:size], rest[size + 2 :]
    return out


def json_post(target: bytes, body: bytes, content_type: bytes = b"application/json") -> Request:
    return Request("POST", target, {"Content-Type": content_type}, body)


# -- mutators ---------------------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "\ud800",
    "../../etc/passwd",
    "toon\x00",
    "TOON",
    "toon ",
    "<script>alert(1)</script>",
    "%s%s%n",
    "\u202etoon",
    "photo2cartoon_not_here",
    "a" * 5000,
    "é" * 300,
]


def odd_value(rng: random.Random, depth: int = 0):
    """A JSON value of a random type, often an awkward one."""
    kind = rng.randrange(11 if depth < 3 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**64), 10**30])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, -1e308, 1e-320, float("nan"), float("inf"), float("-inf")])
    if kind in (4, 5):
        return rng.choice(ODD_STRINGS)
    if kind == 6:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(1, 40)))
    if kind == 7:
        return rng.choice(["offer", "answer", "mirror", "room", "toon", "poster"])
    if kind == 8:
        return [odd_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["sdp", "type", "style", "x", ""]): odd_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _dumps(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def mutate_offer(offer: dict, rng: random.Random) -> tuple[str, Request]:
    """A POST /api/offer whose body is a valid offer mutated one way."""
    body = _dumps(offer)
    choice = rng.randrange(14)
    if choice == 0:
        return "truncated JSON", json_post(b"/api/offer", body[: rng.randrange(1, len(body))])
    if choice == 1:
        flipped = bytearray(body)
        for _ in range(rng.randrange(1, 20)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return "bit flips", json_post(b"/api/offer", bytes(flipped))
    if choice == 2:
        return "random bytes", json_post(b"/api/offer", rng.randbytes(rng.randrange(1, 4000)))
    if choice == 3:
        depth = rng.choice([1200, 5000, 30000])
        return f"nested {depth} deep", json_post(b"/api/offer", b"[" * depth + b"]" * depth)
    if choice == 4:
        encoding = rng.choice(["utf-16", "utf-32", "latin-1", "cp1252"])
        text = json.dumps({**offer, "style": "tôon"}, ensure_ascii=False)
        return f"body in {encoding}", json_post(b"/api/offer", text.encode(encoding, "replace"))
    if choice == 5:
        return "JSON of another type", json_post(b"/api/offer", _dumps(odd_value(rng)))
    if choice == 6:
        key = rng.choice(["sdp", "type", "mode", "style", "room"])
        value = odd_value(rng)
        return f"{key} = {str(value)[:40]!r}", json_post(b"/api/offer", _dumps({**offer, key: value}))
    if choice == 7:
        style = rng.choice([*ODD_STRINGS, "cartoon", "dctnet_anime", "photo2cartoon", "whitebox"])
        return f"style {style[:30]!r}", json_post(b"/api/offer", _dumps({**offer, "style": style}))
    if choice == 8:
        token = rng.choice(["", "x", "A" * 43, "A" * 5000, "\ud800", rng.randbytes(32).hex()])
        body = _dumps({**offer, "mode": "room", "room": token})
        return f"room token {token[:20]!r}", json_post(b"/api/offer", body)
    if choice == 9:
        size = rng.choice([33 * 1024, 63 * 1024, 65 * 1024, 1024 * 1024])
        padded = {**offer, "sdp": offer["sdp"] + "a=x:" + "y" * size + "\r\n"}
        return f"sdp {size} bytes longer", json_post(b"/api/offer", _dumps(padded))
    if choice == 10:
        return "body over 64 KiB", json_post(b"/api/offer", _dumps({**offer, "pad": "z" * (70 * 1024)}))
    if choice == 11:
        content_type = rng.choice(
            [
                b"text/plain",
                b"application/x-www-form-urlencoded",
                b"multipart/form-data; boundary=x",
                b"application/json; charset=bogus-encoding",
                b"application/json; charset=utf-16",
                b"APPLICATION/JSON",
                b"application/jsonx",
                b"",
            ]
        )
        return f"Content-Type {content_type!r}", json_post(b"/api/offer", body, content_type)
    if choice == 12:
        request = Request("POST", b"/api/offer", {}, body)
        return "no Content-Type", request
    duplicated = body[:-1] + b', "sdp": ' + _dumps(offer["sdp"]) + b", " + body[1:]
    return "duplicate keys", json_post(b"/api/offer", duplicated)


def mutate_sdp(offer: dict, rng: random.Random) -> tuple[str, Request]:
    """A POST /api/offer with a valid offer whose session description is mutated one way."""
    lines = offer["sdp"].split("\r\n")
    choice = rng.randrange(9)
    if choice == 0:
        index = rng.randrange(len(lines))
        what = f"line {lines[index][:12]!r} dropped"
        del lines[index]
    elif choice == 1:
        index = rng.randrange(len(lines))
        what = f"line {lines[index][:12]!r} repeated"
        lines[index:index] = [lines[index]] * rng.choice([2, 50])
    elif choice == 2:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        what = "two lines swapped"
    elif choice == 3:
        text = "\r\n".join(lines)
        cut = rng.randrange(len(text))
        lines, what = [text[:cut]], f"cut at {cut}"
    elif choice == 4:
        index = rng.randrange(len(lines))
        words = lines[index].split(" ")
        position = rng.randrange(len(words))
        words[position] = str(rng.choice([-1, 0, 2**31, 2**64, 10**100, "NaN", "x"]))
        lines[index] = " ".join(words)
        what = f"a field of {lines[index][:12]!r} changed"
    elif choice == 5:
        index = rng.randrange(len(lines))
        noise = "".join(chr(rng.choice([rng.randrange(0, 32), rng.randrange(32, 0x3000)])) for _ in range(20))
        lines[index] = lines[index][:5] + noise
        what = "random characters in a line"
    elif choice == 6:
        text = "\r\n".join(lines)
        return "line ends changed", json_post(b"/api/offer", _dumps({**offer, "sdp": text.replace("\r\n", "\n")}))
    elif choice == 7:
        start = next(i for i, line in enumerate(lines) if line.startswith("m=video"))
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines) - 1)
        copies = rng.choice([2, 5, 9])
        lines[end:end] = lines[start:end] * (copies - 1)
        what = f"video section x{copies}"
    else:
        prefix = rng.choice(["a=candidate:", "a=fingerprint:", "a=setup:", "a=rtpmap:", "a=ice-ufrag:", "a=ssrc:"])
        keep = [line for line in lines if not line.startswith(prefix)]
        lines = [*keep, prefix + rng.choice(["", "x", "1 2 3", "9" * 300, "actpass actpass"])]
        what = f"{prefix} replaced"
    return what, json_post(b"/api/offer", _dumps({**offer, "sdp": "\r\n".join(lines)}))


TRAVERSALS = [
    b"../",
    b"..%2f",
    b"%2e%2e/",
    b"%2e%2e%2f",
    b"%252e%252e%252f",
    b"..\\",
    b"..%5c",
    b"%c0%ae%c0%ae/",
    b".%2e/",
]
TARGET_FILES = [
    b"etc/passwd",
    b"streamer/server/server.py",
    b"pyproject.toml",
    b".git/HEAD",
    b"web/app.js",
    b"proc/self/environ",
]


def mutate_path(rng: random.Random) -> tuple[str, Request]:
    """A GET or HEAD that tries to reach a file other than the page's."""
    method = rng.choice(["GET", "GET", "HEAD"])
    choice = rng.randrange(5)
    if choice < 3:
        prefix = rng.choice([b"/", b"/app.js/", b"/static/", b"/api/", b"//", b"/./"])
        target = prefix + rng.choice(TRAVERSALS) * rng.randrange(1, 8) + rng.choice(TARGET_FILES)
    elif choice == 3:
        target = rng.choice(
            [
                b"/app.js%00.html",
                b"/app.js\x00",
                b"/index.html/",
                b"/APP.JS",
                b"/app.js.map",
                b"/etc/passwd",
                b"/%2fetc%2fpasswd",
                b"/web/app.js",
                b"/app.js?../../etc/passwd",
                b"http://127.0.0.1/../../etc/passwd",
                b"*",
                b"/" + b"a" * 9000,
            ]
        )
    else:
        target = b"/" + bytes(rng.randrange(33, 127) for _ in range(rng.randrange(1, 60)))
    return f"{method} {target[:60]!r}", Request(method, target)


def mutate_request(rng: random.Random) -> tuple[str, Request]:
    """Other methods, preflights, odd room requests and bytes that are not HTTP."""
    choice = rng.randrange(6)
    if choice == 0:
        method = rng.choice(["PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "PROPFIND", "G\x00T"])
        target = rng.choice([b"/", b"/app.js", b"/api/offer", b"/api/rooms", b"/api/styles"])
        return f"{method} {target!r}", Request(method, target)
    if choice == 1:
        headers = {
            "Origin": b"https://evil.example",
            "Access-Control-Request-Method": b"POST",
            "Access-Control-Request-Headers": b"content-type",
        }
        target = rng.choice([b"/api/offer", b"/api/rooms", b"/api/styles", b"/"])
        return f"OPTIONS preflight {target!r}", Request("OPTIONS", target, headers)
    if choice == 2:
        content_type = rng.choice([b"application/json", b"text/plain", b""])
        body = rng.choice([b"", b"{}", b"null", rng.randbytes(50), b"[" * 3000])
        return f"POST /api/rooms {content_type!r} {body[:10]!r}", json_post(b"/api/rooms", body, content_type)
    if choice == 3:
        body = _dumps({"sdp": "v=0", "type": "offer"})
        headers = {"Content-Type": b"application/json", "Origin": b"https://evil.example", "Content-Length": b"9999999"}
        return "Content-Length far over the cap", Request("POST", b"/api/offer", headers, body)
    if choice == 4:
        headers = {"Content-Type": b"application/json", "Transfer-Encoding": b"chunked"}
        chunk = b"z" * 40000
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
        return "chunked body over the cap", _without_length(Request("POST", b"/api/offer", headers, body))
    return "bytes that are not HTTP", Request("", b"", raw=rng.randbytes(rng.randrange(1, 3000)))


def _without_length(request: Request) -> Request:
    """`request` as raw bytes with no Content-Length (for a chunked body)."""
    head = request.method.encode() + b" " + request.target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    head += b"".join(name.encode() + b": " + value + b"\r\n" for name, value in request.headers.items())
    request.raw = head + b"\r\n" + request.body
    return request


def channel_message(rng: random.Random) -> tuple[str, str | bytes]:
    """A control message for the reference session."""
    choice = rng.randrange(6)
    if choice == 0:
        return "random bytes", rng.randbytes(rng.choice([1, 100, 5000, 60000]))
    if choice == 1:
        return "random text", "".join(chr(rng.randrange(1, 0xD7FF)) for _ in range(rng.randrange(1, 3000)))
    if choice == 2:
        message = {rng.choice(["style", "strength", "background", "quit", "x"]): odd_value(rng) for _ in range(3)}
        return f"random JSON {str(message)[:50]}", json.dumps(message, allow_nan=True)
    if choice == 3:
        style = rng.choice([*ODD_STRINGS, "cartoon", "photo2cartoon", "../toon", "__init__"])
        return f"style {style[:30]!r}", json.dumps({"style": style})
    if choice == 4:
        depth = rng.choice([500, 1500, 20000])
        return f"nested {depth} deep", "[" * depth + "]" * depth
    value = rng.choice([float("nan"), float("inf"), -1e308, 1e308, -5, 7, True, "1"])
    return f"strength {value!r}", json.dumps({"strength": value}, allow_nan=True)


# -- the run ----------------------------------------------------------------------------------------


class Server:
    """`streamer serve` in a subprocess; its stderr lines as they come."""

    def __init__(self, style: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        command = [sys.executable, "-m", "streamer", "serve", "--ice-loopback", "--port", str(self.port)]
        command += ["--style", style, "--max-sessions", str(MAX_SESSIONS)]
        command += ["--sessions-per-minute", "1e9", "--rooms-per-minute", "1e9"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.base = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.decode("utf-8", "replace").rstrip("\n"))

    def holdings(self) -> dict[str, int]:
        """Open descriptors and OS threads of the server process."""
        pid = self.process.pid
        threads = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("Threads:")
        )
        return {"fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": threads}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)


def judge_http(
    case: Case, response: Response | None, page: dict[bytes, bytes], styles: bytes, new_err: list[str]
) -> None:
    if response is None:
        case.verdict = "hang"
        return
    case.status = response.status
    text = response.body[:300].decode("utf-8", "replace")
    try:
        case.message = json.loads(response.body).get("error", "") if response.body[:1] == b"{" else text[:120]
    except (ValueError, AttributeError):
        case.message = text[:120]
    if any("Traceback" in line for line in new_err):
        case.verdict, case.details["stderr"] = "traceback", new_err[-30:]
    elif "access-control-allow-origin" in response.headers:
        case.verdict = "CORS header sent"
    elif response.status == 0 and response.body:
        case.verdict = "not an HTTP answer"
    elif response.status >= 500 and not (response.status == 503 and "limit of" in case.message):
        case.verdict = f"status {response.status}"
    elif response.status == 200 and case.seed_name == "path" and case.mutation.startswith("GET"):
        served = response.body
        case.verdict = "pass" if served in page.values() or served == styles else "served another file"
    else:
        case.verdict = "pass"


async def _reference_alive(reference, seconds: float = 30.0) -> bool:
    from serve_load import wait_until

    mark = reference.received
    return await wait_until(lambda: reference.received >= mark + 3, seconds)


async def run_cases(cases: int, rng: random.Random, timeout: float, style: str) -> list[Case]:
    from serve_load import Client, face_frames

    from streamer.server import server as web_server

    web_server.loopback_ice_only()
    page_files = web_server.page_files()
    page = {name.encode(): page_files[name].read_bytes() for name in PAGE_NAMES}
    server = Server(style)
    results: list[Case] = []
    reference = Client(face_frames((320, 240)))
    try:
        styles_answer = None
        deadline = time.monotonic() + 90
        while styles_answer is None or styles_answer.status != 200:
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise RuntimeError("the server did not start: " + "\n".join(server.stderr[-5:]))
            await asyncio.sleep(0.3)
            styles_answer = await send(server.port, Request("GET", b"/api/styles"), 5)
        styles = styles_answer.body
        status, answer = await reference.connect(server.base, mode="mirror", style=style)
        if status != 200 or not await _reference_alive(reference, 60):
            raise RuntimeError(f"the reference session did not start: {status} {answer}")
        seed_client = Client(face_frames((320, 240)))
        await seed_client.pc.setLocalDescription(await seed_client.pc.createOffer())
        offer = {"sdp": seed_client.pc.localDescription.sdp, "type": "offer", "mode": "mirror", "style": style}
        await seed_client.close()
        start_holdings = server.holdings()
        accepted = 0
        kinds: list[tuple[str, Callable]] = [
            ("offer", lambda: mutate_offer(offer, rng)),
            ("sdp", lambda: mutate_sdp(offer, rng)),
            ("path", lambda: mutate_path(rng)),
            ("request", lambda: mutate_request(rng)),
            ("channel", lambda: channel_message(rng)),
        ]
        for index in range(cases):
            kind, make = kinds[index % len(kinds)]
            what, payload = make()
            case = Case("server", kind, what)
            err_mark = len(server.stderr)
            t0 = time.monotonic()
            if kind == "channel":
                statuses = len([m for m in reference.messages if "status" in m])
                reference.channel.send(payload)
                await asyncio.sleep(0.05)
                switched = [
                    m["status"]
                    for m in reference.messages[statuses:]
                    if "status" in m and m["status"].startswith("style:")
                ]
                new_err = server.stderr[err_mark:]
                registered = json.loads(styles)["styles"]
                if any("Traceback" in line for line in new_err):
                    case.verdict, case.details["stderr"] = "traceback", new_err[-30:]
                elif any(s.removeprefix("style: ") not in registered for s in switched):
                    case.verdict = f"switched to {switched}"
                else:
                    case.verdict = "pass"
            else:
                response = await send(server.port, payload, timeout)
                await asyncio.sleep(0.02)
                judge_http(case, response, page, styles, server.stderr[err_mark:])
                accepted += case.status == 200 and kind in ("offer", "sdp")
            case.seconds = round(time.monotonic() - t0, 3)
            results.append(case)
            if (index + 1) % CHECK_EVERY == 0 and not await _reference_alive(reference):
                results.append(Case("server", "after the run", f"reference session after case {index + 1}"))
                results[-1].verdict = "the reference session stopped receiving frames"
                break
        results += await _final_checks(server, reference, start_holdings, accepted)
    finally:
        await reference.close()
        server.stop()
    tracebacks = sum("Traceback" in line for line in server.stderr)
    if tracebacks and not any(c.verdict == "traceback" for c in results):
        late = Case("server", "after the run", "the server's log", verdict=f"{tracebacks} traceback(s) in the log")
        first = next(i for i, line in enumerate(server.stderr) if "Traceback" in line)
        late.message, late.details["stderr"] = server.stderr[first - 1], server.stderr[first - 1 : first + 40]
        results.append(late)
    return results


async def _final_checks(server: Server, reference, start: dict[str, int], accepted: int) -> list[Case]:
    """The server still answers, the reference still receives, and nothing is held beyond what
    it held before the cases (after the sessions the accepted offers opened have timed out)."""
    checks = []
    alive = Case("server", "after the run", "the server answers and the reference session receives")
    answer = await send(server.port, Request("GET", b"/api/styles"), 10)
    receiving = await _reference_alive(reference)
    alive.verdict = "pass" if answer is not None and answer.status == 200 and receiving else "server or session gone"
    checks.append(alive)
    leaks = Case("server", "after the run", "descriptors and threads back where they were")
    if accepted:
        await asyncio.sleep(NO_MEDIA_TIMEOUT_S + 3)  # the sessions no client answered time out
    end = server.holdings()
    leaks.details = {"before": start, "after": end, "accepted_offers": accepted}
    leaks.verdict = "pass" if end["fds"] <= start["fds"] + 4 else f"descriptors {start['fds']} -> {end['fds']}"
    checks.append(leaks)
    return checks


def fuzz_server(cases: int, rng: random.Random, timeout: float = 20.0, style: str = "toon") -> list[Case]:
    """`cases` seeded cases against a fresh `streamer serve` (see the module docstring)."""
    return asyncio.run(run_cases(cases, rng, timeout, style))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds a request may take (default: 20)")
    parser.add_argument("--style", default="toon")
    parser.add_argument("--json", type=Path, help="write every case and the summary here")
    args = parser.parse_args(argv)
    results = fuzz_server(args.cases, random.Random(args.seed), args.timeout, args.style)
    summary: dict[str, dict[str, int]] = {}
    for case in results:
        row = summary.setdefault(case.seed_name, {"cases": 0, "pass": 0, "hangs": 0, "tracebacks": 0, "other": 0})
        row["cases"] += 1
        key = {"pass": "pass", "hang": "hangs", "traceback": "tracebacks"}.get(case.verdict, "other")
        row[key] += 1
    for kind, row in summary.items():
        print(f"{kind}: " + ", ".join(f"{key} {value}" for key, value in row.items()))
    for case in results:
        if case.verdict != "pass":
            print(f"  FAIL {case.seed_name} ({case.mutation}): {case.verdict}; {case.message}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "cases": [asdict(c) for c in results]}, indent=1))
    return 0 if all(c.verdict == "pass" for c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
