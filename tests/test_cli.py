"""The `streamer` command from the user's side: the commands share their engine options (names,
choices, defaults), pass them on, and run as `streamer`, `python -m streamer.cli` and `python -m streamer`."""

import subprocess
import sys
from pathlib import Path

import pytest

from streamer.cli import EXIT_USER_ERROR, build_parser, main
from streamer.engines.registry import BACKENDS, BACKGROUND_STYLES, DEFAULT_STYLE, DEVICES, PRECISIONS

REPO = Path(__file__).resolve().parents[1]
# The least each command needs to parse.
COMMANDS = {
    "stylize": ["stylize", "in.mp4", "out.mp4"],
    "live": ["live", "--source", "webcam:0", "--sink", "preview"],
    "serve": ["serve"],
}


def _help(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _options(parser, command: str) -> dict:
    """The options of one subcommand: flag -> argparse action."""
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return {flag: action for action in sub._actions for flag in action.option_strings}


def test_live_help_lists_the_engine_options_of_stylize(capsys):
    live = _help(capsys, "live")
    for flag in ("--detect-every", "--max-faces", "--style", "--backend", "--device", "--precision"):
        assert flag in live and flag in _help(capsys, "stylize")
    assert "streamer models list" in live and "streamer styles" not in live


def test_style_defaults_to_the_same_style_in_stylize_live_and_serve():
    parser = build_parser()
    styles = {name: parser.parse_args(args).style for name, args in COMMANDS.items()}
    assert styles == dict.fromkeys(COMMANDS, DEFAULT_STYLE)


def test_engine_choices_are_the_registry_s_in_every_command():
    parser = build_parser()
    for command in COMMANDS:
        options = _options(parser, command)
        assert tuple(options["--backend"].choices) == BACKENDS, command
        assert tuple(options["--device"].choices) == DEVICES, command
        assert tuple(options["--precision"].choices) == PRECISIONS, command
        assert tuple(options["--background-style"].choices) == BACKGROUND_STYLES, command
        for flag in ("--max-faces", "--detect-every"):
            assert options[flag].default >= 1, (command, flag)


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_backend_is_refused_with_status_2(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*COMMANDS[command], "--backend", "nope"])
    assert exit_.value.code == EXIT_USER_ERROR
    assert "invalid choice: 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--max-faces", "--detect-every"])
def test_face_counts_below_one_are_refused(flag, capsys):
    for args in COMMANDS.values():
        with pytest.raises(SystemExit) as exit_:
            main([*args, flag, "0"])
        assert exit_.value.code == EXIT_USER_ERROR
        assert "must be at least 1" in capsys.readouterr().err


def test_live_passes_the_engine_options_to_the_pipeline(monkeypatch, tmp_path, capsys):
    import streamer.pipeline.live as live

    seen = {}

    class Pipeline:
        def __init__(self, open_source, sinks, options, controls, **kw):
            seen["options"], seen["controls"] = options, controls

        def run(self):
            return live.LiveSummary()

    monkeypatch.setattr(live, "LivePipeline", Pipeline)
    args = ["--detect-every", "3", "--max-faces", "2", "--background-style", "none", "--precision", "fp32"]
    code = main(["live", "--source", "udp://127.0.0.1:9", "--sink", f"file:{tmp_path / 'o.mp4'}", *args, "--quiet"])
    assert code == 0 and "0 frames in" in capsys.readouterr().out
    options = seen["options"]
    assert (options.detect_every, options.max_faces, options.background_style) == (3, 2, "none")
    assert (options.style, options.precision) == (DEFAULT_STYLE, "fp32")
    assert seen["controls"].style == DEFAULT_STYLE


def test_serve_passes_the_engine_options_to_every_session(monkeypatch):
    pytest.importorskip("aiortc")
    from streamer.server import server

    seen = {}
    monkeypatch.setattr(server, "run", lambda host, port, options, cert, key: seen.update(options=options))
    assert main(["serve", "--detect-every", "5", "--device", "cpu", "--max-faces", "1"]) == 0
    options = seen["options"]
    assert (options.detect_every, options.device, options.max_faces, options.style) == (5, "cpu", 1, DEFAULT_STYLE)


def test_the_page_is_found_in_the_web_folder_of_a_checkout():
    pytest.importorskip("aiortc")
    from streamer.server.server import page_files

    files = page_files()
    assert sorted(files) == ["app.js", "chart.js", "index.html", "style.css"]
    assert all(path.is_file() and path.parent.name in ("web", "webpage") for path in files.values())


@pytest.mark.parametrize("module", ["streamer.cli", "streamer"])
def test_python_m_runs_the_command(module):
    result = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and result.stdout.startswith("streamer ")


def test_console_scripts_are_installed():
    folder = Path(sys.executable).parent
    if not (folder / "streamer").exists():
        pytest.skip("streamer is not installed in this environment (run from a checkout)")
    result = subprocess.run([folder / "streamer", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("streamer ")
    result = subprocess.run([folder / "streamer-trt-build", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("usage: streamer-trt-build ")


def test_the_sample_photos_ship_with_the_package():
    from streamer import samples

    shapes = {name: getattr(samples, name)().shape for name in ("astronaut", "coffee", "chelsea", "rocket", "camera")}
    assert shapes == {
        "astronaut": (512, 512, 3),
        "coffee": (400, 600, 3),
        "chelsea": (300, 451, 3),
        "rocket": (427, 640, 3),
        "camera": (512, 512),
    }


@pytest.mark.slow
def test_the_wheel_carries_the_page_and_the_samples_and_no_top_level_trt_build(tmp_path):
    import shutil
    import zipfile

    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("streamer", "web", "trt_build"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", str(source), "-w", str(tmp_path), "--no-deps"]
    result = subprocess.run([*build, "--no-build-isolation", "--no-index", "-q"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("streamer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"streamer/webpage/{n}" for n in ("index.html", "app.js", "chart.js", "style.css")} <= names
    assert {f"streamer/samples/{n}.jpg" for n in ("astronaut", "coffee", "chelsea", "rocket", "camera")} <= names
    assert "streamer/trt_build/__main__.py" in names and "streamer/cli/__main__.py" in names
    assert not any(n.startswith(("trt_build/", "web/")) for n in names)


# -- mistakes a user makes get one line and status 2, and lose nothing -----------------------------
@pytest.mark.parametrize("flag", ["--fps", "--latency-budget-ms", "--duration"])
def test_live_refuses_rates_and_times_that_are_not_positive(flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*COMMANDS["live"], flag, "0"])
    assert exit_.value.code == EXIT_USER_ERROR and "must be above 0" in capsys.readouterr().err


def test_live_never_records_over_the_file_it_plays(face_clip, tmp_path, capsys):
    clip = tmp_path / "mine.mp4"
    clip.write_bytes(face_clip.read_bytes())
    before = clip.read_bytes()
    code = main(["live", "--source", str(clip), "--realtime", "--sink", f"file:{tmp_path / '.' / 'mine.mp4'}"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "is the source" in err and err.count("\n") == 1
    assert clip.read_bytes() == before


def test_live_checks_the_stats_folder_before_it_starts(face_clip, tmp_path, capsys):
    out, stats = tmp_path / "out.mp4", tmp_path / "missing" / "stats.jsonl"
    code = main(["live", "--source", str(face_clip), "--realtime", "--sink", f"file:{out}", "--stats-json", str(stats)])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "does not exist" in err and err.count("\n") == 1
    assert not out.exists()


def test_live_whose_every_output_failed_exits_with_status_2(face_clip, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    code = main(["live", "--source", str(face_clip), "--realtime", "--sink", "preview", "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "every output failed" in err and "Traceback" not in err


def test_serve_on_a_port_in_use_or_with_unreadable_certificates_says_so_in_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [sys.executable, "-m", "streamer", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert busy.returncode == EXIT_USER_ERROR and "Traceback" not in busy.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in busy.stderr.splitlines()[-1]
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamer",
            "serve",
            "--cert",
            str(tmp_path / "c.pem"),
            "--key",
            str(tmp_path / "k.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == EXIT_USER_ERROR and missing.stderr.count("\n") == 1
    assert "cannot use" in missing.stderr and "for HTTPS" in missing.stderr


def test_a_url_protocol_the_installed_pyav_lacks_ends_the_run_in_one_line(face_clip, tmp_path, capsys):
    import av

    try:
        av.open("srt://127.0.0.1:9", timeout=0.5).close()
    except av.error.ProtocolNotFoundError:
        pass
    except (av.FFmpegError, OSError):
        pytest.skip("this PyAV has SRT")
    code = main(["live", "--source", "srt://127.0.0.1:9", "--sink", f"file:{tmp_path / 'o.mp4'}", "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "srt:// is not supported by the installed PyAV" in err
    assert "retrying" not in err, "a missing protocol is not a dropped source"
    code = main(["live", "--source", str(face_clip), "--realtime", "--sink", "srt://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "srt:// is not supported by the installed PyAV" in err
