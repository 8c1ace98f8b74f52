"""`streamer doctor`: one line per check with its fix, --json, exit status, and that it changes nothing.

The machine-dependent checks are given a fake sysfs, /dev and /proc, and a fake `v4l2-ctl` script;
the ports are real sockets; the stored styles are real files in a temporary model store.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from streamer import doctor
from streamer.cli import main
from streamer.cli.doctor import default_ports
from streamer.engines import store

STATUSES = {"ok", "problem", "info"}
LABELS = {"ok": "ok", "problem": "PROBLEM", "info": "info"}

# What `v4l2-ctl --list-formats-ext -d /dev/video0` prints for a common USB webcam.
WEBCAM_MODES = """ioctl: VIDIOC_ENUM_FMT
\tType: Video Capture

\t[0]: 'MJPG' (Motion-JPEG, compressed)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.067s (15.000 fps)
\t[1]: 'YUYV' (YUYV 4:2:2)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.100s (10.000 fps)
"""
# ... and for the same camera's metadata node, which has no capture format.
METADATA_NODE = "ioctl: VIDIOC_ENUM_FMT\n\tType: Video Capture\n\n"


def _json_report(capsys) -> tuple[int, dict]:
    code = main(["doctor", "--json"])
    return code, json.loads(capsys.readouterr().out)


def _by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


def _fake_sysfs(root: Path, devices: dict[str, tuple[str, str]], loopback_loaded: bool = False) -> tuple[Path, Path]:
    """A sysfs and /dev under `root`: devices maps videoN -> (name, parent path under devices/)."""
    sys_root, dev_root = root / "sys", root / "dev"
    (sys_root / "class" / "video4linux").mkdir(parents=True)
    dev_root.mkdir()
    for node, (name, parent) in devices.items():
        real = sys_root / "devices" / parent / "video4linux" / node
        real.mkdir(parents=True)
        (real / "name").write_text(name + "\n")
        (sys_root / "class" / "video4linux" / node).symlink_to(real)
        (dev_root / node).touch()
    if loopback_loaded:
        (sys_root / "module" / "v4l2loopback" / "parameters").mkdir(parents=True)
    return sys_root, dev_root


@pytest.fixture
def fake_v4l2ctl(tmp_path) -> Path:
    """An executable that answers `--list-formats-ext -d DEVICE` as v4l2-ctl does for a webcam."""
    (tmp_path / "webcam.txt").write_text(WEBCAM_MODES)
    (tmp_path / "meta.txt").write_text(METADATA_NODE)
    script = tmp_path / "v4l2-ctl"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$3" in *video0) cat "{tmp_path}/webcam.txt";; *video1) cat "{tmp_path}/meta.txt";; '
        '*) echo "Cannot open device $3" >&2; exit 1;; esac\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


# --- the command ----------------------------------------------------------------------------------


def test_text_report_is_one_line_per_check_with_fixes_and_a_summary(streamer_home, capsys):
    code = main(["doctor"])
    lines = capsys.readouterr().out.splitlines()
    _, report = _json_report(capsys)
    checks = report["checks"]
    assert lines[0].startswith(f"streamer {report['streamer']}, Python {report['python']}")
    body, summary = lines[1:-1], lines[-1]
    assert len(body) == len(checks), "exactly one line per check"
    for line, check in zip(body, checks, strict=True):
        label, name = LABELS[check["status"]], check["name"]
        assert line.startswith(f"{label} ") and f" {name} " in line and check["detail"] in line
        assert (f"; fix: {check['fix']}" in line) == bool(check["fix"])
    problems = [c["name"] for c in checks if c["status"] == "problem"]
    if problems:
        assert code == 1 and summary.startswith(f"{len(problems)} problem") and all(p in summary for p in problems)
    else:
        assert code == 0 and summary == "no problems found"


def test_json_report_names_every_check_and_counts_problems(streamer_home, capsys):
    code, report = _json_report(capsys)
    assert {"streamer", "python", "platform", "checks", "problems"} <= set(report)
    for check in report["checks"]:
        assert set(check) == {"name", "status", "detail", "fix"}
        assert check["status"] in STATUSES and check["detail"] and "\n" not in check["detail"]
        assert check["status"] != "problem" or check["fix"], "every problem comes with its fix"
    names = _by_name(report)
    expected = {"virtual camera", "gpu", "onnxruntime", "torch", "tensorrt", "model store", "protocols"}
    assert expected | {"decoders", "encoders", "muxers", "serve port", "demo port"} <= set(names)
    assert "cameras" in names or any(n.startswith("camera /dev/video") for n in names)
    problems = sum(c["status"] == "problem" for c in report["checks"])
    assert report["problems"] == problems and code == (1 if problems else 0)
    assert names["onnxruntime"]["status"] == "ok" and "CPUExecutionProvider" in names["onnxruntime"]["detail"]
    assert names["encoders"]["status"] == "ok" and "libx264" in names["encoders"]["detail"]
    assert "matroska (.mkv)" in names["muxers"]["detail"] and "flv (rtmp://)" in names["muxers"]["detail"]


def test_the_command_writes_nothing(tmp_path, monkeypatch, capsys):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("STREAMER_HOME", str(home))
    monkeypatch.chdir(cwd)
    main(["doctor"])
    capsys.readouterr()
    _, report = _json_report(capsys)
    assert list(home.iterdir()) == [] and list(cwd.iterdir()) == []
    store_check = _by_name(report)["model store"]
    assert store_check["status"] == "info" and str(home / "models") in store_check["detail"]
    assert "STREAMER_HOME" in store_check["detail"]


def test_a_busy_serve_port_is_a_problem_naming_it_and_the_fix(streamer_home, capsys):
    number = default_ports()["serve"]
    assert default_ports() == {"serve": 8080, "demo": 7860}  # read from the commands' own parsers
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", number))
            holder.listen()
        except OSError:
            pass  # something else holds it already: the check must say so just the same
        code, report = _json_report(capsys)
    check = _by_name(report)["serve port"]
    assert code == 1 and check["status"] == "problem"
    assert f"127.0.0.1:{number} is in use" in check["detail"] and "streamer serve --port" in check["fix"]


def test_a_port_check_suggests_a_free_port_and_sees_it_freed():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        number = holder.getsockname()[1]
        busy = doctor.port("demo", number)
        assert busy.status == "problem" and str(number) in busy.detail
        suggested = int(busy.fix.split("streamer demo --port ")[1].split("`")[0])
        assert suggested != number
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", suggested))  # the port it suggests is really free
    assert doctor.port("demo", number).status == "ok"


# --- stored styles --------------------------------------------------------------------------------


def _store_style(style: str, files: dict[str, bytes]) -> Path:
    with store.Staging(style) as staging:
        for name, data in files.items():
            (staging.dir / name).write_bytes(data)
        roles = {name.split(".")[0]: name for name in files}
        return staging.commit(store.Manifest(style, "dctnet", roles, {}))


def test_a_changed_stored_file_is_a_checksum_problem_with_the_import_fix(streamer_home, capsys):
    folder = _store_style("anime", {"head.onnx": b"head graph" * 100, "background.onnx": b"bg graph" * 100})
    checks = {c.name: c for c in doctor.model_store()}
    assert checks["model store"].status == "ok" and "1 styles (anime)" in checks["model store"].detail
    assert checks["style anime"].status == "ok" and "2 files match their checksums" in checks["style anime"].detail

    (folder / "head.onnx").write_bytes(b"head graph" * 99 + b"changed!!!")
    (folder / "background.onnx").unlink()
    code, report = _json_report(capsys)
    check = _by_name(report)["style anime"]
    assert code == 1 and check["status"] == "problem"
    assert "head.onnx does not match its checksum" in check["detail"]
    assert "background.onnx is missing" in check["detail"]
    assert "streamer models import PATH --style anime" in check["fix"]


def test_a_damaged_manifest_is_one_problem_and_the_other_styles_are_still_checked(streamer_home):
    _store_style("sketch", {"head.onnx": b"x" * 64})
    (store.models_dir() / "mine").mkdir()
    (store.models_dir() / "mine" / store.MANIFEST).write_text("{not json")
    checks = {c.name: c for c in doctor.model_store()}
    assert checks["style mine"].status == "problem" and "damaged manifest" in checks["style mine"].detail
    assert checks["style sketch"].status == "ok"


# --- cameras and the virtual camera ---------------------------------------------------------------


def test_cameras_are_listed_with_their_names_and_modes(tmp_path, fake_v4l2ctl):
    usb = "pci0000:00/0000:00:14.0/usb1/1-6/1-6:1.0"
    sys_root, dev_root = _fake_sysfs(
        tmp_path,
        {
            "video0": ("Integrated Camera: Integrated C", usb),
            "video1": ("Integrated Camera: Integrated C", usb),
            "video10": ("streamer", "virtual"),
        },
        loopback_loaded=True,
    )
    checks = doctor.cameras("Linux", sys_root, dev_root, find_v4l2ctl=lambda: str(fake_v4l2ctl))
    assert [c.name for c in checks] == [f"camera {dev_root}/video0", f"camera {dev_root}/video1"], "no vcam"
    assert all(c.status == "ok" for c in checks)
    modes = "MJPG 1280x720@30 640x480@30; YUYV 1280x720@10 640x480@30"
    assert checks[0].detail == f'"Integrated Camera: Integrated C": {modes}'
    assert "no capture modes" in checks[1].detail

    without = doctor.cameras("Linux", sys_root, dev_root, find_v4l2ctl=lambda: None)
    assert f"v4l2-ctl --list-formats-ext -d {dev_root}/video0" in without[0].detail
    assert "install v4l-utils" in without[0].detail


def test_no_camera_is_a_problem_and_other_systems_say_what_was_checked(tmp_path):
    sys_root, dev_root = _fake_sysfs(tmp_path, {})
    (check,) = doctor.cameras("Linux", sys_root, dev_root, find_v4l2ctl=lambda: None)
    assert check.status == "problem" and "no camera" in check.detail and "--realtime" in check.fix
    (mac,) = doctor.cameras("Darwin", sys_root, dev_root)
    assert mac.status == "info" and "nothing was checked on Darwin" in mac.detail
    assert "system_profiler SPCameraDataType" in mac.detail


def test_modes_of_a_stepwise_camera_and_a_long_list():
    stepwise = (
        "\t[0]: 'YU12' (Planar YUV 4:2:0)\n\t\tSize: Stepwise 32x32 - 1920x1080 with step 2/2\n"
        "\t\t\tInterval: Stepwise 0.033s - 1.000s with step 0.000s (1.000-30.000 fps)\n"
    )
    assert doctor.summarize_modes(stepwise) == "YU12 32x32-1920x1080@30"
    sizes = "".join(f"\t\tSize: Discrete {w}x{w * 3 // 4}\n" for w in (160, 320, 640, 800, 1024, 1280))
    assert doctor.summarize_modes("\t[0]: 'MJPG' (Motion-JPEG)\n" + sizes) == (
        "MJPG 1280x960 1024x768 800x600 640x480 +2 more"
    )


def test_no_v4l2loopback_is_a_problem_with_the_modprobe_fix(tmp_path):
    sys_root, dev_root = _fake_sysfs(tmp_path, {"video0": ("Webcam", "pci0000:00/usb1")})
    check = doctor.virtual_camera("Linux", sys_root, dev_root)
    assert check.status == "problem" and "v4l2loopback is not loaded" in check.detail
    assert 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="streamer"' in check.fix


def test_v4l2loopback_without_a_device_and_with_one(tmp_path):
    sys_root, dev_root = _fake_sysfs(tmp_path / "a", {"video0": ("Webcam", "pci0000:00/usb1")}, loopback_loaded=True)
    empty = doctor.virtual_camera("Linux", sys_root, dev_root)
    assert empty.status == "problem" and "no device" in empty.detail and "modprobe -r v4l2loopback" in empty.fix

    sys_root, dev_root = _fake_sysfs(tmp_path / "b", {"video10": ("streamer", "virtual")}, loopback_loaded=True)
    check = doctor.virtual_camera("Linux", sys_root, dev_root)
    assert check.status == "ok" and f'{dev_root}/video10 "streamer"' in check.detail
    assert "pyvirtualcam" in check.detail and "exclusive_caps" not in check.detail

    (sys_root / "module" / "v4l2loopback" / "parameters" / "exclusive_caps").write_text("N,N,N,N,N,N,N,N\n")
    relaxed = doctor.virtual_camera("Linux", sys_root, dev_root)
    assert relaxed.status == "ok" and "exclusive_caps is off" in relaxed.detail


@pytest.mark.skipif(os.geteuid() == 0, reason="root may open any device")
def test_a_device_this_user_may_not_open_needs_the_video_group(tmp_path):
    sys_root, dev_root = _fake_sysfs(tmp_path, {"video0": ("Webcam", "pci0000:00/usb1")})
    (dev_root / "video0").chmod(0)
    (check,) = doctor.cameras("Linux", sys_root, dev_root, find_v4l2ctl=lambda: None)
    assert check.status == "problem" and "usermod -aG video" in check.fix


# --- GPU, backends, and a check that fails ---------------------------------------------------------


def test_an_nvidia_gpu_that_torch_cannot_use_is_a_problem(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU torch can use")
    assert not doctor.nvidia_gpu_present(tmp_path, which=lambda _: None)
    assert doctor.nvidia_gpu_present(tmp_path, which=lambda name: f"/usr/bin/{name}")  # Windows, WSL
    (tmp_path / "driver" / "nvidia" / "gpus").mkdir(parents=True)
    assert not doctor.nvidia_gpu_present(tmp_path, which=lambda name: f"/usr/bin/{name}"), "a driver, no GPU"
    (tmp_path / "driver" / "nvidia" / "gpus" / "0000:01:00.0").mkdir()
    assert doctor.nvidia_gpu_present(tmp_path, which=lambda _: None)
    check = doctor.gpu(nvidia=True)
    assert check.status == "problem" and f"torch {torch.__version__}" in check.detail
    assert check.fix
    assert doctor.gpu(nvidia=False).status == "info"


def test_every_backend_says_where_it_runs():
    checks = {c.name: c for c in doctor.backend_checks()}
    assert checks["onnxruntime"].status == "ok" and "runs on cpu" in checks["onnxruntime"].detail
    for check in checks.values():
        assert "runs on " in check.detail or "runs nowhere here" in check.detail


def test_a_check_that_fails_becomes_a_problem_line():
    def broken() -> doctor.Check:
        raise RuntimeError("odd system\nmore")

    (check,) = doctor.guarded("cameras", broken)
    assert check.status == "problem" and check.detail == "the check failed: RuntimeError: odd system"


def test_without_obs_macos_and_windows_are_told_to_install_it(tmp_path):
    for system in ("Darwin", "Windows"):
        check = doctor.virtual_camera(system, tmp_path, tmp_path)
        assert check.status == "problem" and "OBS" in check.detail and "Start Virtual Camera" in check.fix
    assert doctor.virtual_camera("FreeBSD", tmp_path, tmp_path).status == "info"


def test_srt_needs_libsrt_and_networking_is_required():
    installed = doctor.protocols()
    assert installed.status in ("ok", "info") and "rtmp://" in installed.detail
    assert doctor.protocols("--enable-shared --enable-libsrt --enable-gpl").status == "ok"
    without = doctor.protocols("--enable-shared --enable-gpl")
    assert without.status == "info" and "not srt://" in without.detail and "libsrt" in without.fix
    offline = doctor.protocols("--enable-shared --disable-network")
    assert offline.status == "problem" and offline.fix
