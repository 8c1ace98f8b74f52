"""`streamer serve`: the WebRTC page (mirror and call rooms); see `streamer.server`."""

from __future__ import annotations

import argparse
from pathlib import Path

from streamer.cli.common import add_engine_arguments, options_from_args, positive_float, positive_int


def add_parser(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="live cartoon video calls in the browser (WebRTC)",
        description="Serve the WebRTC page: mirror (your camera back, stylized) "
        "and call rooms. Binds 127.0.0.1 unless --host says otherwise.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--cert", type=Path, help="TLS certificate (PEM), needed for cameras off localhost")
    serve.add_argument("--key", type=Path, help="TLS private key (PEM)")
    add_engine_arguments(serve)  # --style is the page's default; the others apply to every session
    serve.add_argument("--max-sessions", type=positive_int, default=4, help="sessions served at once (default 4)")
    serve.add_argument("--room-capacity", type=positive_int, default=2, help="people in one room (default 2)")
    serve.add_argument("--max-rooms", type=positive_int, help="rooms that may exist at once (default 100)")
    serve.add_argument(
        "--sessions-per-minute",
        type=positive_float,
        help="sessions one client address may start a minute (default 30)",
    )
    serve.add_argument(
        "--rooms-per-minute",
        type=positive_float,
        help="rooms one client address may create a minute (default 10)",
    )
    serve.add_argument("--stun", action="append", default=[], help="STUN server URL (repeatable; default none)")
    serve.add_argument("--turn", action="append", default=[], help="TURN server URL (repeatable)")
    serve.add_argument("--turn-user", help="TURN user name")
    serve.add_argument("--turn-password", help="TURN password")
    serve.add_argument("--fps", type=positive_float, default=30.0)
    serve.add_argument("--latency-budget-ms", type=positive_float)
    serve.add_argument(
        "--ice-loopback",
        action="store_true",
        help="offer 127.0.0.1 as the only ICE candidate (loopback-only machines and tests)",
    )
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from streamer.engines.registry import check_available
    from streamer.server import server

    check_available(args.style)  # the page's default: one clear line now, not a failing session later
    if args.ice_loopback:
        server.loopback_ice_only()
    ice = [{"urls": url} for url in args.stun]
    ice += [{"urls": url, "username": args.turn_user, "credential": args.turn_password} for url in args.turn]
    # The limits left out keep the server's defaults (`streamer.server.server`'s constants).
    names = ("max_rooms", "sessions_per_minute", "rooms_per_minute")
    limits = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    options = options_from_args(
        server.ServerOptions,
        args,
        max_sessions=args.max_sessions,
        room_capacity=args.room_capacity,
        **limits,
        ice_servers=ice,
        fps=args.fps,
        latency_budget_ms=args.latency_budget_ms,
    )
    server.run(args.host, args.port, options, args.cert, args.key)
    return 0
