"""`streamer models pull STYLE` from the user's side, against a local HTTP server standing in for GitHub
and ModelScope (no outside network): installs, resumes, refuses bad files, and says what to do by hand."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from streamer.cli import EXIT_USER_ERROR, main
from streamer.engines import pull

from .conftest import REFERENCE_TFLITE

WHITEBOX_PATH = "/ml/whitebox_cartoon_gan_fp16.tflite"
ANIME_ID = "damo/cv_unet_person-image-cartoon_compound-models"


# -- the stand-in origin ----------------------------------------------------------------------------------


@dataclass
class Origin:
    """What the local server serves and how, and what it was asked.

    `files`: plain paths -> bytes. `models`: ModelScope model id -> {file name: bytes}, served through
    the endpoints the ModelScope SDK calls. `drop_after` bytes: each plain response stops there (the
    connection closes early), for the next `drops` responses. `short`: plain files are served cut to
    half, as a complete response."""

    files: dict[str, bytes] = field(default_factory=dict)
    models: dict[str, dict[str, bytes]] = field(default_factory=dict)
    drop_after: int = 0
    drops: int = 0
    short: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    bytes_sent: int = 0
    url: str = ""


def _handler(origin: Origin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            origin.requests.append((self.path, self.headers.get("Range")))
            url = urlsplit(self.path)
            if url.path.startswith("/api/v1/models/"):
                self._modelscope(url.path[len("/api/v1/models/") :], parse_qs(url.query))
            elif url.path in origin.files:
                self._plain(origin.files[url.path])
            else:
                self._send(404, b'{"Code": 404, "Message": "not found"}')

        def _modelscope(self, rest: str, query: dict[str, list[str]]) -> None:
            model_id, _, endpoint = rest.partition("/repo")
            files = origin.models.get(model_id)
            if files is None:
                self._send(404, b'{"Code": 404, "Message": "model not found"}')
            elif endpoint == "/files":
                listing = [
                    {"Path": n, "Name": n, "Type": "blob", "Size": len(b), "Sha256": hashlib.sha256(b).hexdigest()}
                    for n, b in files.items()
                ]
                self._send(200, json.dumps({"Code": 200, "Success": True, "Data": {"Files": listing}}).encode())
            elif query.get("FilePath", [""])[0] in files:
                self._ranged(files[query["FilePath"][0]])
            else:
                self._send(404, b'{"Code": 404, "Message": "file not found"}')

        def _plain(self, content: bytes) -> None:
            if origin.short:
                self._send(200, content[: len(content) // 2])
            elif origin.drops > 0:
                origin.drops -= 1
                self._ranged(content, stop_after=origin.drop_after)
            else:
                self._ranged(content)

        def _ranged(self, content: bytes, stop_after: int = 0) -> None:
            wanted = self.headers.get("Range", "")
            start = 0
            if wanted.startswith("bytes="):
                first, _, last = wanted[len("bytes=") :].partition("-")
                start = int(first)
                end = int(last) + 1 if last else len(content)
                body = content[start:end]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(content)}")
            else:
                body = content
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            sent = body[:stop_after] if stop_after else body
            self.wfile.write(sent)
            origin.bytes_sent += len(sent)
            self.close_connection = True

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            origin.bytes_sent += len(body)

    return Handler


@pytest.fixture
def origin() -> Iterator[Origin]:
    state = Origin()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()


def _closed_port_url() -> str:
    """A loopback URL where nothing listens: a connection there is refused, as with no network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- model files standing in for the official ones ---------------------------------------------------------


def _fake_whitebox_tflite() -> bytes:
    """A TFLite file holding a White-box U-Net (random weights) under the official tensor names."""
    pytest.importorskip("ai_edge_litert.interpreter", reason="reading .tflite files needs ai-edge-litert")
    torch = pytest.importorskip("torch")
    import flatbuffers
    from ai_edge_litert import schema_py_generated as tfl

    from streamer.engines.models.unet import CartoonUNet

    from .fakes import frozen_unet_constants

    torch.manual_seed(5)
    model = tfl.ModelT()
    model.version = 3
    model.buffers = [tfl.BufferT()]
    graph = tfl.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = [], [], [], []

    def constant(name: str, value: np.ndarray) -> None:
        buffer = tfl.BufferT()
        buffer.data = np.ascontiguousarray(value, np.float32).tobytes()
        model.buffers.append(buffer)
        tensor = tfl.TensorT()
        tensor.name, tensor.shape, tensor.type = name.encode(), list(value.shape), tfl.TensorType.FLOAT32
        tensor.buffer = len(model.buffers) - 1
        graph.tensors.append(tensor)

    for name, value in frozen_unet_constants(CartoonUNet(rgb=True, guided_eps=5e-3)).items():
        if name.endswith("/weights"):  # TFLite names a kernel by its op and stores it OHWI
            constant(name[: -len("/weights")] + "/Conv2D", value.transpose(3, 0, 1, 2))
        else:
            constant(name, np.asarray(value))
    model.subgraphs, model.operatorCodes = [graph], []
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def whitebox_tflite() -> bytes:
    return _fake_whitebox_tflite()


@pytest.fixture
def home(streamer_home: Path, tmp_path: Path, monkeypatch) -> Path:
    """An empty store; the ModelScope SDK's own config folder is kept out of the user's home."""
    monkeypatch.setenv("MODELSCOPE_HOME", str(tmp_path / "modelscope-config"))
    monkeypatch.setattr(pull, "RETRY_PAUSE_S", 0.0)
    return streamer_home


def _serve_whitebox(origin: Origin, content: bytes, monkeypatch, official: bytes | None = None) -> None:
    """Serve `content` as whitebox's file; the expected size and checksum are those of `official`
    (default: `content` itself, standing in for the official file)."""
    official = content if official is None else official
    origin.files[WHITEBOX_PATH] = content
    monkeypatch.setenv(pull.WHITEBOX_URL_ENV, origin.url + WHITEBOX_PATH)
    stand_in = replace(pull.WHITEBOX_FILE, size=len(official), sha256=hashlib.sha256(official).hexdigest())
    monkeypatch.setattr(pull, "WHITEBOX_FILE", stand_in)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _stored(home: Path) -> list[str]:
    """What the model store holds: style folders, downloads, records."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*")) if home.exists() else []


def _installed(home: Path, style: str) -> dict | None:
    manifest = home / "models" / style / "manifest.json"
    return json.loads(manifest.read_text()) if manifest.exists() else None


# -- whitebox: one file over HTTPS ------------------------------------------------------------------------


@pytest.mark.slow
def test_pull_whitebox_downloads_checks_and_installs(home, origin, whitebox_tflite, monkeypatch, capsys):
    _serve_whitebox(origin, whitebox_tflite, monkeypatch)
    code, out, err = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == 0, err
    assert "CC BY-NC-SA 4.0" in out and "use it with --style whitebox" in out
    manifest = _installed(home, "whitebox")
    assert manifest is not None
    assert manifest["source"] == {pull.WHITEBOX_FILE.name: hashlib.sha256(whitebox_tflite).hexdigest()}
    assert not (home / "downloads").exists()
    code, out, err = _run(capsys, "models", "verify", "whitebox")
    assert code == 0 and "whitebox: ok" in out, err

    asked = len(origin.requests)
    code, out, _ = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == 0 and "already installed" in out and "streamer models remove whitebox" in out
    assert len(origin.requests) == asked  # not downloaded again


def test_the_official_whitebox_file_is_pinned_to_its_commit_size_and_checksum():
    official = pull.WHITEBOX_FILE
    assert official.url == (
        "https://raw.githubusercontent.com/margaretmz/Cartoonizer-with-TFLite/"
        "b2cfa4a0547edaa63ba4e20dc555dc6fc79c22f9/android/app/src/main/ml/whitebox_cartoon_gan_fp16.tflite"
    )
    assert official.size == 3_057_558
    assert official.sha256 == "7ebaaf2c3e83eb8332f19b333da507aa43752d2b418df9e67808a77d8432de02"
    if REFERENCE_TFLITE.exists():  # the trained file, when this checkout has it
        assert REFERENCE_TFLITE.stat().st_size == official.size
        assert hashlib.sha256(REFERENCE_TFLITE.read_bytes()).hexdigest() == official.sha256


@pytest.mark.slow
@pytest.mark.skipif(not REFERENCE_TFLITE.exists(), reason="the trained whitebox file is not in this checkout")
def test_pull_whitebox_with_the_official_checksum(home, origin, monkeypatch, capsys):
    pytest.importorskip("ai_edge_litert.interpreter", reason="reading .tflite files needs ai-edge-litert")
    pytest.importorskip("torch")
    origin.files[WHITEBOX_PATH] = REFERENCE_TFLITE.read_bytes()
    monkeypatch.setenv(pull.WHITEBOX_URL_ENV, origin.url + WHITEBOX_PATH)
    code, _, err = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == 0, err
    assert _installed(home, "whitebox") is not None


@pytest.mark.slow
def test_an_interrupted_download_resumes_with_range_requests(home, origin, whitebox_tflite, monkeypatch, capsys):
    _serve_whitebox(origin, whitebox_tflite, monkeypatch)
    step = len(whitebox_tflite) // 5
    origin.drop_after, origin.drops = step, pull.ATTEMPTS  # every try of the first run stops early
    code, _, err = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "run the same command again to resume" in err
    assert _installed(home, "whitebox") is None
    part = home / "downloads" / "whitebox" / f"{pull.WHITEBOX_FILE.name}.part"
    assert part.stat().st_size == pull.ATTEMPTS * step
    # Each try went on where the last one stopped.
    assert [r for _, r in origin.requests] == [None] + [f"bytes={i * step}-" for i in range(1, pull.ATTEMPTS)]

    origin.requests.clear()
    origin.drops = 1  # the next run is cut once more, then completes
    code, _, err = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == 0, err
    done = pull.ATTEMPTS * step
    assert [r for _, r in origin.requests] == [f"bytes={done}-", f"bytes={done + step}-"]
    assert origin.bytes_sent == len(whitebox_tflite)  # no byte was downloaded twice
    assert _installed(home, "whitebox") is not None
    assert not (home / "downloads").exists()


def test_a_missing_file_is_one_line_and_stores_nothing(home, origin, monkeypatch, capsys):
    _serve_whitebox(origin, b"x" * 10, monkeypatch)
    del origin.files[WHITEBOX_PATH]
    code, _, err = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "HTTP 404" in err and "streamer models import" in err
    assert _stored(home) == []


def test_a_truncated_file_is_refused_and_deleted(home, origin, whitebox_tflite, monkeypatch, capsys):
    _serve_whitebox(origin, whitebox_tflite, monkeypatch)
    origin.short = True
    code, _, err = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "truncated" in err
    assert _stored(home) == []


def test_a_wrong_checksum_is_refused_and_the_file_deleted(home, origin, whitebox_tflite, monkeypatch, capsys):
    damaged = bytearray(whitebox_tflite)
    damaged[len(damaged) // 2] ^= 0xFF
    _serve_whitebox(origin, bytes(damaged), monkeypatch, official=whitebox_tflite)
    code, _, err = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "sha256" in err and "deleted" in err
    assert _stored(home) == []


def test_non_commercial_weights_need_accept_license(home, origin, whitebox_tflite, monkeypatch, capsys):
    _serve_whitebox(origin, whitebox_tflite, monkeypatch)
    code, out, err = _run(capsys, "models", "pull", "whitebox", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert "CC BY-NC-SA 4.0" in out
    assert err.count("\n") == 1 and "--accept-license" in err
    assert origin.requests == [] and _stored(home) == []


def test_without_network_one_line_says_how_to_get_the_file_by_hand(home, monkeypatch, capsys):
    monkeypatch.setenv(pull.WHITEBOX_URL_ENV, _closed_port_url() + WHITEBOX_PATH)
    code, _, err = _run(capsys, "models", "pull", "whitebox", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "cannot reach 127.0.0.1" in err
    assert pull.WHITEBOX_FILE.url in err
    assert f"streamer models import {pull.WHITEBOX_FILE.name} --style whitebox" in err
    assert _stored(home) == []


def test_photo2cartoon_prints_the_manual_steps(home, capsys):
    code, _, err = _run(capsys, "models", "pull", "photo2cartoon", "--accept-license")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "github.com/minivision-ai/photo2cartoon" in err
    assert "streamer models import photo2cartoon_weights.pt --style photo2cartoon" in err
    assert _stored(home) == []


def test_built_in_and_unknown_styles_cannot_be_pulled(home, capsys):
    code, _, err = _run(capsys, "models", "pull", "toon")
    assert code == EXIT_USER_ERROR and "built in" in err
    code, _, err = _run(capsys, "models", "pull", "nosuchstyle")
    assert code == EXIT_USER_ERROR and "anime" in err and "whitebox" in err


# -- DCT-Net: ModelScope through its SDK -------------------------------------------------------------------


@pytest.fixture
def modelscope(home, origin, monkeypatch) -> Origin:
    """The origin as the ModelScope endpoint the SDK talks to."""
    pytest.importorskip("modelscope", reason="pulling DCT-Net styles needs the ModelScope SDK (streamer[pull])")
    monkeypatch.setenv(pull.MODELSCOPE_ENDPOINT_ENV, origin.url)
    return origin


def _dctnet_files(dctnet_store: Path) -> dict[str, bytes]:
    folder = dctnet_store / "dctnet_download"
    return {name: (folder / name).read_bytes() for name in ("cartoon_h.pb", "cartoon_bg.pb", "alpha.jpg")}


@pytest.mark.slow
def test_pull_anime_from_modelscope_and_refuse_changed_files_later(home, modelscope, dctnet_store, capsys):
    files = _dctnet_files(dctnet_store)
    modelscope.models[ANIME_ID] = {**files, "README.md": b"model card"}
    code, out, err = _run(capsys, "models", "pull", "anime", "--accept-license", "--no-progress")
    assert code == 0, err
    assert f"https://modelscope.cn/models/{ANIME_ID}" in out  # where to read the licence
    manifest = _installed(home, "anime")
    assert manifest is not None
    digests = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    assert manifest["source"] == digests
    assert json.loads((home / "pulled.json").read_text()) == {"anime": digests}  # recorded on the first pull
    assert not any("README.md" in path for path, _ in modelscope.requests)  # only the files it needs
    assert not (home / "downloads").exists()
    code, out, _ = _run(capsys, "models", "list")
    assert "anime  [dctnet, installed]" in out

    # Later the model's files change upstream: a new pull stops before importing them.
    assert _run(capsys, "models", "remove", "anime")[0] == 0
    modelscope.models[ANIME_ID] = {**files, "cartoon_bg.pb": b"\x0a\x03not a graph" * 100}
    code, _, err = _run(capsys, "models", "pull", "anime", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "cartoon_bg.pb" in err and "first pulled" in err and "--accept-changed" in err
    assert _installed(home, "anime") is None and not (home / "downloads").exists()
    # Accepted, the changed files go on to import, whose structural check refuses this one.
    code, _, err = _run(capsys, "models", "pull", "anime", "--accept-license", "--accept-changed", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "import check" in err and "cartoon_bg.pb" in err
    assert _installed(home, "anime") is None and not (home / "downloads").exists()
    assert json.loads((home / "pulled.json").read_text()) == {"anime": digests}


def test_dctnet_weights_need_accept_license(home, modelscope, dctnet_store, capsys):
    modelscope.models[ANIME_ID] = _dctnet_files(dctnet_store)
    code, out, err = _run(capsys, "models", "pull", "anime", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert "see the model card" in out and err.count("\n") == 1 and "--accept-license" in err
    assert modelscope.requests == [] and _stored(home) == []


def test_a_file_that_fails_the_import_check_stores_nothing(home, modelscope, dctnet_store, capsys):
    files = _dctnet_files(dctnet_store)
    modelscope.models[ANIME_ID] = {**files, "cartoon_h.pb": b"\x0a\x03not a graph" * 100}
    code, _, err = _run(capsys, "models", "pull", "anime", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "import check" in err
    assert _installed(home, "anime") is None
    assert not (home / "downloads").exists() and not (home / "pulled.json").exists()


def test_a_model_missing_on_modelscope_is_one_line(home, modelscope, capsys):
    code, _, err = _run(capsys, "models", "pull", "anime", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "404" in err and "streamer models import FOLDER --style anime" in err
    assert _installed(home, "anime") is None


def test_without_network_modelscope_says_how_to_get_the_files_by_hand(home, monkeypatch, capsys):
    pytest.importorskip("modelscope", reason="pulling DCT-Net styles needs the ModelScope SDK (streamer[pull])")
    monkeypatch.setenv(pull.MODELSCOPE_ENDPOINT_ENV, _closed_port_url())
    code, _, err = _run(capsys, "models", "pull", "sketch", "--accept-license", "--no-progress")
    assert code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and "cannot reach ModelScope" in err
    assert "modelscope.cn/models/damo/cv_unet_person-image-cartoon-sketch_compound-models" in err
    assert "streamer models import FOLDER --style sketch" in err
    assert _installed(home, "sketch") is None


def test_the_modelscope_sdk_is_loaded_only_to_pull():
    code = (
        "import sys, streamer.cli, streamer.engines.pull; streamer.cli.build_parser(); "
        "print('modelscope' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
