"""`streamer doctor`'s checks: what this machine offers streamer, without changing anything.

Each check is a small function returning one or more `Check`s: a name, a status (`ok`, `problem`
or `info`), one line of detail, and for a problem the fix. `info` is something optional that is
absent (no GPU, no TensorRT); only `problem` makes the command fail.

The checks only read: sysfs and /dev listings, installed packages, the model store's files (hashed,
never run), PyAV's codec tables, and a socket bound to a port and closed at once. A camera's modes
come from `v4l2-ctl --list-formats-ext` where it is installed; no device is opened for writing, no
model is loaded, no file is written. The paths they read (`sys_root`, `dev_root`, `proc_root`) and
the tools they run are parameters, so the tests give them a fake sysfs and /dev.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
import platform
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

OK, PROBLEM, INFO = "ok", "problem", "info"

VCAM_MODPROBE = 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="streamer"'
V4L2LOOPBACK_INSTALL = "Debian/Ubuntu: sudo apt install v4l2loopback-dkms"
OBS_HINT = "install OBS Studio (https://obsproject.com) and click Start Virtual Camera once"
VIDEO_GROUP_FIX = "sudo usermod -aG video $USER, then log out and in again"
MODES_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    """One line of the report. `fix` is set for a problem (and may be for info), else empty."""

    name: str
    status: str
    detail: str
    fix: str = ""


def guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """Run one check; a check that itself fails (a bug, an odd system) becomes a problem line."""
    try:
        result = check()
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return [Check(name, PROBLEM, f"the check failed: {type(exc).__name__}: {first}", "report it with --json")]
    return result if isinstance(result, list) else [result]


# --- cameras ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoDevice:
    """A /dev/videoN node as the kernel lists it. `virtual`: it has no hardware (v4l2loopback)."""

    node: Path
    name: str
    virtual: bool
    has_node: bool


def _video_number(name: str) -> int:
    digits = name.removeprefix("video")
    return int(digits) if digits.isdigit() else -1


def video_devices(sys_root: Path = Path("/sys"), dev_root: Path = Path("/dev")) -> list[VideoDevice]:
    """Every video4linux device: those sysfs lists, with their names, and /dev/video* nodes it does not."""
    found: dict[str, VideoDevice] = {}
    class_dir = sys_root / "class" / "video4linux"
    if class_dir.is_dir():
        for entry in class_dir.iterdir():
            if not entry.name.startswith("video") or _video_number(entry.name) < 0:
                continue
            try:
                label = (entry / "name").read_text().strip()
            except OSError:
                label = ""
            # v4l2loopback registers its devices without a parent: they live under devices/virtual.
            virtual = "/devices/virtual/" in entry.resolve().as_posix()
            node = dev_root / entry.name
            found[entry.name] = VideoDevice(node, label, virtual, node.exists())
    if dev_root.is_dir():
        for node in dev_root.glob("video*"):
            if _video_number(node.name) >= 0 and node.name not in found:
                found[node.name] = VideoDevice(node, "", False, True)
    return sorted(found.values(), key=lambda d: _video_number(d.node.name))


_FORMAT = re.compile(r"\[\d+\]:\s*'([^']+)'")
_SIZE = re.compile(r"Size:\s*(?:Discrete\s+(\d+x\d+)|\w+\s+(\d+x\d+)\s*-\s*(\d+x\d+))")
_FPS = re.compile(r"Interval:.*?\((?:[\d.]+-)?([\d.]+) fps\)")
MAX_SIZES = 4


def summarize_modes(text: str) -> str:
    """`v4l2-ctl --list-formats-ext` output -> "MJPG 1920x1080@30 1280x720@30; YUYV 640x480@30".

    Per pixel format, its largest sizes first (at most `MAX_SIZES`, then "+N more"), each with its
    highest frame rate. Empty when the output lists no capture format (a camera's metadata node).
    """
    formats: dict[str, dict[str, float]] = {}
    current: dict[str, float] | None = None
    size = ""
    for line in text.splitlines():
        if match := _FORMAT.search(line):
            current = formats.setdefault(match.group(1).strip(), {})
        elif (match := _SIZE.search(line)) and current is not None:
            size = match.group(1) or f"{match.group(2)}-{match.group(3)}"
            current.setdefault(size, 0.0)
        elif (match := _FPS.search(line)) and current is not None and size in current:
            current[size] = max(current[size], float(match.group(1)))
    parts = []
    for fourcc, sizes in formats.items():

        def area(s: str) -> int:
            w, h = s.split("-")[-1].split("x")
            return int(w) * int(h)

        ordered = sorted(sizes, key=area, reverse=True)
        shown = [f"{s}@{sizes[s]:g}" if sizes[s] else s for s in ordered[:MAX_SIZES]]
        more = f" +{len(ordered) - MAX_SIZES} more" if len(ordered) > MAX_SIZES else ""
        parts.append(f"{fourcc} {' '.join(shown)}{more}".strip())
    return "; ".join(parts)


def v4l2_modes(node: Path, v4l2ctl: str | None) -> str:
    """The modes of a camera as `v4l2-ctl` lists them (it only queries), or how to see them."""
    how = f"v4l2-ctl --list-formats-ext -d {node}"
    if v4l2ctl is None:
        return f"modes: install v4l-utils and run `{how}`"
    try:
        done = subprocess.run(
            [v4l2ctl, "--list-formats-ext", "-d", str(node)],
            capture_output=True,
            text=True,
            timeout=MODES_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"modes: `{how}` did not answer ({type(exc).__name__})"
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        return f"modes: `{how}` failed ({reason[-1] if reason else f'status {done.returncode}'})"
    return summarize_modes(done.stdout) or "no capture modes (a metadata node of the camera before it)"


def cameras(
    system: str | None = None,
    sys_root: Path = Path("/sys"),
    dev_root: Path = Path("/dev"),
    find_v4l2ctl: Callable[[], str | None] = lambda: shutil.which("v4l2-ctl"),
) -> list[Check]:
    """One line per camera (Linux: video4linux devices other than virtual cameras), with its modes.

    `find_v4l2ctl`: where the `v4l2-ctl` to run is (None: not installed).
    """
    system = system or platform.system()
    if system != "Linux":
        how = {
            "Darwin": "`system_profiler SPCameraDataType`",
            "Windows": "PowerShell `Get-PnpDevice -Class Camera`",
        }.get(system, "your system's device list")
        return [
            Check(
                "cameras",
                INFO,
                f"cameras are listed on Linux only; nothing was checked on {system}: see {how}; "
                "`streamer live --source webcam:0` opens the first",
            )
        ]
    v4l2ctl = find_v4l2ctl()
    devices = [d for d in video_devices(sys_root, dev_root) if not d.virtual]
    if not devices:
        return [
            Check(
                "cameras",
                PROBLEM,
                f"no camera: no {dev_root}/video* device other than virtual cameras",
                "plug one in (see `lsusb`, `sudo dmesg`); in a container pass it with --device /dev/video0; "
                "without one, `streamer live` takes a URL, or a file with --realtime",
            )
        ]
    checks = []
    for device in devices:
        name = f"camera {device.node}"
        label = f'"{device.name}"' if device.name else "(no name)"
        if not device.has_node:
            checks.append(
                Check(
                    name,
                    PROBLEM,
                    f"{label}: the kernel lists it but {device.node} is missing",
                    f"pass it into this container (docker run --device {device.node}) or check udev",
                )
            )
        elif not os.access(device.node, os.R_OK | os.W_OK):
            checks.append(Check(name, PROBLEM, f"{label}: this user may not open it", VIDEO_GROUP_FIX))
        else:
            checks.append(Check(name, OK, f"{label}: {v4l2_modes(device.node, v4l2ctl)}"))
    return checks


# --- virtual camera -----------------------------------------------------------------------------


def _pyvirtualcam() -> tuple[str, list[str]] | None:
    """(version, backends it registers on this system) of the installed pyvirtualcam, or None.

    pyvirtualcam can only find a device by opening it for writing, so only its backend list is used.
    """
    if importlib.util.find_spec("pyvirtualcam") is None:
        return None
    import pyvirtualcam
    from pyvirtualcam import camera

    return getattr(pyvirtualcam, "__version__", "?"), sorted(camera.BACKENDS)


def _obs_virtual_camera(system: str) -> Path | None:
    """Where OBS's virtual camera is installed on macOS or Windows, or None."""
    if system == "Darwin":
        candidates = [
            Path(
                "/Applications/OBS.app/Contents/Library/SystemExtensions/"
                "com.obsproject.obs-studio.mac-camera-extension.systemextension"
            ),
            Path("/Library/CoreMediaIO/Plug-Ins/DAL/obs-mac-virtualcam.plugin"),
        ]
    else:
        roots = {os.environ.get("PROGRAMFILES", r"C:\Program Files"), os.environ.get("PROGRAMFILES(X86)", "")}
        candidates = [
            Path(root) / "obs-studio" / "data" / "obs-plugins" / "win-dshow" / dll
            for root in sorted(r for r in roots if r)
            for dll in ("obs-virtualcam-module64.dll", "obs-virtualcam-module32.dll")
        ]
    return next((p for p in candidates if p.exists()), None)


def _exclusive_caps_off(module: Path, count: int) -> bool:
    """Whether v4l2loopback's exclusive_caps is off for its first `count` devices (Chrome skips those)."""
    try:
        values = (module / "parameters" / "exclusive_caps").read_text().strip().split(",")
    except OSError:
        return False
    return all(v.strip() in ("N", "0") for v in values[:count])


def virtual_camera(
    system: str | None = None,
    sys_root: Path = Path("/sys"),
    dev_root: Path = Path("/dev"),
) -> Check:
    """A virtual camera for `--sink vcam`: v4l2loopback loaded with a device (Linux), OBS's (macOS,
    Windows), and the installed pyvirtualcam to drive it."""
    system = system or platform.system()
    found = _pyvirtualcam()
    library = f"pyvirtualcam {found[0]} ({', '.join(found[1]) or 'no backend here'})" if found else ""
    name = "virtual camera"
    if system == "Linux":
        module = sys_root / "module" / "v4l2loopback"
        if not module.is_dir():
            return Check(name, PROBLEM, "v4l2loopback is not loaded", f"{VCAM_MODPROBE} ({V4L2LOOPBACK_INSTALL})")
        loops = [d for d in video_devices(sys_root, dev_root) if d.virtual and d.has_node]
        if not loops:
            return Check(
                name,
                PROBLEM,
                "v4l2loopback is loaded but has no device",
                f"sudo modprobe -r v4l2loopback && {VCAM_MODPROBE}",
            )
        usable = [d for d in loops if os.access(d.node, os.W_OK)]
        if not usable:
            return Check(
                name,
                PROBLEM,
                f"this user may not write to {', '.join(map(str, (d.node for d in loops)))}",
                VIDEO_GROUP_FIX,
            )
        listed = ", ".join(f'{d.node} "{d.name}"' if d.name else str(d.node) for d in usable)
        detail = f"v4l2loopback: {listed}"
        if _exclusive_caps_off(module, len(loops)):
            detail += "; exclusive_caps is off, so Chrome and Zoom may not list it (reload it with exclusive_caps=1)"
    elif system in ("Darwin", "Windows"):
        place = _obs_virtual_camera(system)
        if place is None:
            return Check(name, PROBLEM, "OBS's virtual camera is not installed", OBS_HINT)
        detail = f"OBS virtual camera: {place}"
    else:
        return Check(name, INFO, f"pyvirtualcam has no virtual camera for {system}; use --sink rtmp://... instead")
    if not found:
        return Check(name, PROBLEM, f"{detail}; but pyvirtualcam is not installed", "pip install 'streamer[live]'")
    return Check(name, OK, f"{detail}; {library}")


# --- GPU and backends ---------------------------------------------------------------------------


def nvidia_gpu_present(proc_root: Path = Path("/proc"), which: Callable[[str], str | None] = shutil.which) -> bool:
    """Whether an NVIDIA driver reports a GPU: its /proc entries (Linux), or else `nvidia-smi` on PATH
    (Windows, WSL), which is found, not run."""
    driver = proc_root / "driver" / "nvidia"
    if driver.is_dir():
        gpus = driver / "gpus"
        return gpus.is_dir() and any(gpus.iterdir())
    return which("nvidia-smi") is not None


TORCH_CUDA_FIX = "install torch's CUDA build (https://pytorch.org/get-started/locally/)"


def gpu(nvidia: bool) -> Check:
    """The CUDA GPU torch sees (name, memory, CUDA and torch versions), as the torch backend asks it."""
    from streamer.engines import backends

    if importlib.util.find_spec("torch") is None:
        if nvidia:
            return Check("gpu", PROBLEM, "an NVIDIA GPU is here, but torch is not installed to use it", TORCH_CUDA_FIX)
        return Check("gpu", INFO, "no NVIDIA GPU found; styles run on the CPU (ONNX Runtime)")
    import torch

    torch_backend = backends.get("torch")
    reason = torch_backend.unavailable("cuda") if torch_backend else None
    built = f"torch {torch.__version__}, " + (f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build")
    if reason is None and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        count = torch.cuda.device_count()
        more = f" (+{count - 1} more)" if count > 1 else ""
        detail = (
            f"{props.name}{more}, {props.total_memory / 2**30:.0f} GiB, compute {props.major}.{props.minor}; {built}"
        )
        return Check("gpu", OK, detail)
    if nvidia:
        fix = f"check the NVIDIA driver with nvidia-smi: it must support CUDA {torch.version.cuda}"
        fix = fix if torch.version.cuda else TORCH_CUDA_FIX
        return Check("gpu", PROBLEM, f"an NVIDIA GPU is here, but {reason or 'torch sees no CUDA GPU'} ({built})", fix)
    return Check("gpu", INFO, f"no CUDA GPU; styles run on the CPU ({built})")


def _module_version(name: str) -> str:
    """The version of an importable module named like the backend (imports it), or ""."""
    try:
        if importlib.util.find_spec(name) is None:
            return ""
        return str(getattr(importlib.import_module(name), "__version__", ""))
    except Exception:  # a broken install: the backend's own reason says what is wrong
        return ""


def backend_checks() -> list[Check]:
    """One line per registered inference backend: its version, where it runs here, and why not elsewhere.

    A backend `--backend auto` counts on for the CPU that cannot run there is a problem; one that
    runs nowhere here is optional (info).
    """
    from streamer.engines import backends

    checks = []
    for backend in backends.registered():
        reasons = {device: backend.unavailable(device) for device in backend.devices}
        usable = [device for device, reason in reasons.items() if reason is None]
        version = _module_version(backend.name)
        parts = [f"{backend.title} {version}".strip()]
        if backend.name == "onnxruntime" and version:
            import onnxruntime

            parts.append("providers " + ", ".join(onnxruntime.get_available_providers()))
        parts.append("runs on " + ", ".join(usable) if usable else "runs nowhere here")
        parts += [f"not on {device}: {reason}" for device, reason in reasons.items() if reason]
        detail = "; ".join(parts)
        if "cpu" in backend.auto_devices and "cpu" not in usable:
            checks.append(Check(backend.name, PROBLEM, detail, f"pip install {backend.name}"))
        else:
            checks.append(Check(backend.name, OK if usable else INFO, detail))
    return checks


# --- model store --------------------------------------------------------------------------------


def _import_fix(style: str, family: str, custom: bool) -> str:
    if custom:
        return f"import it again: streamer models import PATH --family {family} --name {style}"
    return f"import it again: streamer models import PATH --style {style} (see `streamer models list` for PATH)"


def model_store() -> list[Check]:
    """Where styles are stored (STREAMER_HOME), and for each stored style whether its files match the
    checksums recorded when it was imported (hashed only; nothing is run or created)."""
    from streamer.engines import store
    from streamer.errors import ModelError

    folder = store.models_dir()
    where = "STREAMER_HOME" if os.environ.get("STREAMER_HOME") else "default; set STREAMER_HOME to move it"
    if not folder.is_dir():
        parent = next(p for p in (folder, *folder.parents) if p.exists())
        if not os.access(parent, os.W_OK | os.X_OK):
            return [
                Check(
                    "model store",
                    PROBLEM,
                    f"{folder} ({where}) cannot be created: {parent} is not writable",
                    "set STREAMER_HOME to a writable folder",
                )
            ]
        return [Check("model store", INFO, f"{folder} ({where}): no style imported yet; `toon` needs none")]
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and (p / store.MANIFEST).exists())
    if not os.access(folder, os.W_OK | os.X_OK):
        head = Check(
            "model store",
            PROBLEM,
            f"{folder} ({where}) is not writable: imports will fail",
            f"make it writable (sudo chown -R $USER {folder}) or set STREAMER_HOME",
        )
    else:
        stored = f"{len(names)} styles ({', '.join(names)})" if names else "no style imported yet"
        head = Check("model store", OK, f"{folder} ({where}): {stored}")
    checks = [head]
    for style in names:
        try:
            manifest = store.read_manifest(style)
        except ModelError as exc:
            checks.append(Check(f"style {style}", PROBLEM, str(exc), f"streamer models remove {style}, then import it"))
            continue
        if manifest is None:
            continue
        problems = store.file_problems(manifest)
        if problems:
            fix = _import_fix(style, manifest.family, manifest.custom)
            checks.append(Check(f"style {style}", PROBLEM, "; ".join(problems), fix))
        else:
            files = len(manifest.files)
            checks.append(Check(f"style {style}", OK, f"{manifest.family}: {files} files match their checksums"))
    return checks


# --- codecs -------------------------------------------------------------------------------------

DECODERS = ("h264", "hevc", "vp8", "vp9", "mpeg4", "aac", "mp3", "opus")  # README's input codecs
AUDIO_ENCODERS = ("aac", "libopus")  # FileSink's transcodes: AAC, Opus into WebM
STREAM_MUXERS = {"flv": "rtmp://", "mpegts": "srt://"}  # StreamSink's containers
AV_FIX = "install PyPI's PyAV wheel, which has them: pip install --force-reinstall av"


def _missing(names: Iterable[str], exists: Callable[[str], object]) -> list[str]:
    missing = []
    for name in names:
        try:
            exists(name)
        except Exception:  # PyAV raises its own errors (UnknownCodecError, ValueError) for an unknown name
            missing.append(name)
    return missing


def codecs() -> list[Check]:
    """The decoders, encoders and muxers the README's formats need, as the installed PyAV has them."""
    import av

    from streamer.sinks.file import CONTAINERS, codec_for

    version = f"PyAV {av.__version__}, FFmpeg {getattr(av, 'ffmpeg_version_info', '?')}"
    outputs: dict[str, list[str]] = {}  # muxer -> what it writes: file extensions, stream URLs
    for extension, fmt in CONTAINERS.items():
        outputs.setdefault(fmt, []).append(extension)
    for fmt, scheme in STREAM_MUXERS.items():
        outputs.setdefault(fmt, []).append(scheme)
    encoders = list(dict.fromkeys(codec_for(fmt) for fmt in CONTAINERS.values())) + list(AUDIO_ENCODERS)
    wanted: list[tuple[str, list[str], Callable[[str], object]]] = [
        ("decoders", list(DECODERS), lambda n: av.Codec(n, "r")),
        ("encoders", encoders, lambda n: av.Codec(n, "w")),
        ("muxers", list(outputs), lambda n: av.ContainerFormat(n, "w")),
    ]
    checks = []
    for name, names, exists in wanted:
        missing = _missing(names, exists)
        if missing:
            checks.append(Check(name, PROBLEM, f"{version} lacks {', '.join(missing)}", AV_FIX))
        else:
            shown = [f"{n} ({' '.join(outputs[n])})" if name == "muxers" else n for n in names]
            checks.append(Check(name, OK, f"{', '.join(shown)}; {version}"))
    return checks


def _ffmpeg_configuration() -> str | None:
    """The `configure` flags of PyAV's libavformat (from PyAV's library metadata), or None if unknown."""
    try:
        from av import _core  # PyAV keeps the build metadata in this module only
    except ImportError:
        return None
    meta = getattr(_core, "library_meta", {}).get("libavformat", {})
    return meta.get("configuration") if isinstance(meta, dict) else None


def protocols(configuration: str | None = "") -> Check:
    """Whether PyAV's FFmpeg can push to rtmp:// (built in unless networking is off) and srt:// (needs
    libsrt, which PyPI's wheels lack: optional). `configuration` ("" reads it): FFmpeg's configure flags."""
    flags = _ffmpeg_configuration() if configuration == "" else configuration
    if flags is None:
        return Check("protocols", INFO, "cannot tell which network protocols PyAV's FFmpeg has (no build metadata)")
    if "--disable-network" in flags.split():
        return Check(
            "protocols", PROBLEM, "PyAV's FFmpeg was built without networking: no URL source or stream sink", AV_FIX
        )
    if "--enable-libsrt" in flags.split():
        return Check("protocols", OK, "rtmp:// and srt:// (libsrt)")
    return Check(
        "protocols",
        INFO,
        "rtmp://; not srt://: this FFmpeg was built without libsrt (PyPI's PyAV wheels are)",
        "for SRT, build PyAV against a system FFmpeg that has libsrt: pip install --no-binary av av",
    )


# --- ports --------------------------------------------------------------------------------------


def _free(host: str, port: int) -> OSError | None:
    """Bind `host:port` and close at once: None when it is free, else the error binding raised."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if os.name == "posix":  # as the servers bind: a port in TIME_WAIT is free to them
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def port(command: str, number: int, host: str = "127.0.0.1") -> Check:
    """Whether `streamer COMMAND` could listen on `host:number` (its default), and if not, a free one."""
    name = f"{command} port"
    error = _free(host, number)
    if error is None:
        return Check(name, OK, f"{host}:{number} is free for `streamer {command}`")
    if error.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        spare = next((p for p in range(number + 1, min(number + 50, 65536)) if _free(host, p) is None), None)
        instead = f"`streamer {command} --port {spare}`" if spare else f"`streamer {command} --port N`"
        return Check(
            name,
            PROBLEM,
            f"{host}:{number} is in use (another program, or `streamer {command}` already running)",
            f"stop what holds it (`ss -ltnp 'sport = :{number}'` shows it) or run {instead}",
        )
    return Check(
        name,
        PROBLEM,
        f"cannot bind {host}:{number}: {error.strerror or error}",
        f"run `streamer {command} --port N` with a port above 1023",
    )


def ports(defaults: dict[str, int], host: str = "127.0.0.1") -> list[Check]:
    """One line per command that listens (`serve`, `demo`), for its default port."""
    return [port(command, number, host) for command, number in defaults.items()]


# --- all of them --------------------------------------------------------------------------------


def run_checks(
    default_ports: dict[str, int],
    system: str | None = None,
    sys_root: Path = Path("/sys"),
    dev_root: Path = Path("/dev"),
    proc_root: Path = Path("/proc"),
) -> list[Check]:
    """Every check, in the report's order; none raises."""
    nvidia = nvidia_gpu_present(proc_root)
    checks: list[Check] = []
    checks += guarded("cameras", lambda: cameras(system, sys_root, dev_root))
    checks += guarded("virtual camera", lambda: virtual_camera(system, sys_root, dev_root))
    checks += guarded("gpu", lambda: gpu(nvidia))
    checks += guarded("backends", backend_checks)
    checks += guarded("model store", model_store)
    checks += guarded("codecs", codecs)
    checks += guarded("protocols", protocols)
    checks += guarded("ports", lambda: ports(default_ports))
    return checks


def system_summary() -> dict[str, str]:
    """What the report is about: streamer's version, Python's, and the OS."""
    from streamer import __version__

    return {"streamer": __version__, "python": platform.python_version(), "platform": platform.platform()}
