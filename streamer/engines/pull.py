"""`streamer models pull STYLE`: download a style's official files, check them, and import them.

Where each style comes from is data (`pull_sources()`):
- DCT-Net styles: their ModelScope model (the id the catalog names), through the ModelScope SDK
  (`pip install 'streamer[pull]'`). It honours `MODELSCOPE_ENDPOINT` for a mirror. ModelScope
  publishes no checksum we can pin, so the SHA-256 of each file is recorded on the first pull
  (`$STREAMER_HOME/pulled.json`) and a later pull that gets different files stops unless told to
  accept them; every pull also passes import's strict structural check.
- `whitebox`: one file at a fixed commit on GitHub over plain HTTPS, with a known size and SHA-256
  (`STREAMER_WHITEBOX_URL` points at a mirror of the same file). It is downloaded to `NAME.part`;
  an interrupted download is retried, and resumed by a later run, with an HTTP Range request.
- `photo2cartoon`: its weights sit on file-sharing links, so pulling it fails with the manual steps.

Downloads go to `$STREAMER_HOME/downloads/STYLE/` and are deleted once imported. A failed pull
stores nothing in the model store: a 404, a truncated file or a wrong checksum is an error (a file
with a wrong size or checksum is deleted), and files that fail import are deleted too; only the
`.part` of an interrupted download is kept, so that the same command resumes it.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from streamer.engines import store
from streamer.engines.install import ImportResult, import_style
from streamer.engines.registry import CATALOG
from streamer.errors import DeviceUnavailableError, InvalidInputError, ModelError, StreamerError

WHITEBOX_URL_ENV = "STREAMER_WHITEBOX_URL"
# The ModelScope SDK's own variable for its endpoint (a mirror, or a local stand-in).
MODELSCOPE_ENDPOINT_ENV = "MODELSCOPE_ENDPOINT"
MODELSCOPE_SDK_HINT = "pip install 'streamer[pull]'"

ATTEMPTS = 3  # tries of one HTTP download within one run, each resuming where the last stopped
RETRY_PAUSE_S = 1.0
TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class Licence:
    """The weights' licence as the user should see it; `needs_acceptance` unless known to allow any use."""

    name: str
    url: str
    needs_acceptance: bool


@dataclass(frozen=True)
class HttpFile:
    """A file at a fixed URL with a known size and SHA-256; `url_env` names a variable that replaces the URL."""

    name: str
    url: str
    size: int
    sha256: str
    url_env: str = ""

    def resolved_url(self) -> str:
        override = os.environ.get(self.url_env, "").strip() if self.url_env else ""
        return override or self.url


@dataclass(frozen=True)
class ModelScopeModel:
    """A ModelScope model: `files` are downloaded, `required` must be among them."""

    model_id: str
    files: tuple[str, ...]
    required: tuple[str, ...]

    @property
    def page(self) -> str:
        return f"https://modelscope.cn/models/{self.model_id}"


@dataclass(frozen=True)
class ManualOnly:
    """A style whose files cannot be downloaded by a program; `steps` says how to get them."""

    steps: str


@dataclass(frozen=True)
class PullSource:
    style: str
    family: str
    licence: Licence
    origin: HttpFile | ModelScopeModel | ManualOnly


WHITEBOX_FILE = HttpFile(
    name="whitebox_cartoon_gan_fp16.tflite",
    url="https://raw.githubusercontent.com/margaretmz/Cartoonizer-with-TFLite/b2cfa4a0547edaa63ba4e20dc555dc6fc79c22f9/"
    "android/app/src/main/ml/whitebox_cartoon_gan_fp16.tflite",
    size=3_057_558,
    sha256="7ebaaf2c3e83eb8332f19b333da507aa43752d2b418df9e67808a77d8432de02",
    url_env=WHITEBOX_URL_ENV,
)
WHITEBOX_LICENCE = Licence(
    "CC BY-NC-SA 4.0 (non-commercial)", "https://creativecommons.org/licenses/by-nc-sa/4.0/", needs_acceptance=True
)
DCTNET_FILES = ("cartoon_h.pb", "cartoon_bg.pb", "alpha.jpg")


def pull_sources() -> dict[str, PullSource]:
    """Every style that `pull` knows, by name: the catalog's DCT-Net models, whitebox, photo2cartoon."""
    sources: dict[str, PullSource] = {}
    for spec in CATALOG.values():
        if spec.family == "dctnet" and spec.model_id:
            model = ModelScopeModel(spec.model_id, DCTNET_FILES, required=("cartoon_h.pb",))
            # The catalog states no licence of its own ("see the model card"): unknown here, so to be accepted.
            licence = Licence(spec.licence, model.page, needs_acceptance=True)
            sources[spec.name] = PullSource(spec.name, spec.family, licence, model)
    whitebox = CATALOG["whitebox"]
    sources[whitebox.name] = PullSource(whitebox.name, whitebox.family, WHITEBOX_LICENCE, WHITEBOX_FILE)
    p2c = CATALOG["photo2cartoon"]
    steps = (
        f"photo2cartoon's weights are shared through file-hosting links, which streamer does not download: "
        f"get photo2cartoon_weights.pt (or its .onnx export) from {p2c.source}, "
        f"then run: streamer models import photo2cartoon_weights.pt --style photo2cartoon"
    )
    sources[p2c.name] = PullSource(p2c.name, p2c.family, Licence(p2c.licence, "", False), ManualOnly(steps))
    return sources


def downloads_dir(style: str) -> Path:
    return store.data_home() / "downloads" / style


def pulled_record_path() -> Path:
    return store.data_home() / "pulled.json"


def manual_steps(source: PullSource) -> str:
    """How to get the style's files by hand and import them (one sentence)."""
    origin = source.origin
    if isinstance(origin, ManualOnly):
        return origin.steps
    if isinstance(origin, HttpFile):
        return (
            f"download {origin.url} by hand (size {origin.size:,} bytes, sha256 {origin.sha256}), "
            f"then run: streamer models import {origin.name} --style {source.style}"
        )
    return (
        f"download {', '.join(origin.files)} from {origin.page} (Files tab) into one folder, "
        f"then run: streamer models import FOLDER --style {source.style}"
    )


def source_of(style: str) -> PullSource:
    """The pull source of `style`; `InvalidInputError` for a built-in, custom or unknown style."""
    sources = pull_sources()
    if style in sources:
        return sources[style]
    spec = CATALOG.get(style)
    if spec is not None and spec.family == "builtin":
        raise InvalidInputError(f"{style!r} is built in: it needs no download")
    raise InvalidInputError(f"cannot pull {style!r}; styles that can be pulled: {', '.join(sorted(sources))}")


def pull(
    style: str,
    accept_license: bool = False,
    accept_changed: bool = False,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> ImportResult | None:
    """Download `style`'s official files and import them; None when it is already installed.

    Raises `InvalidInputError` when the licence needs `accept_license` and it is not given,
    `DeviceUnavailableError` (with the manual steps) when the source cannot be reached, and
    `ModelError` for anything wrong with the files. Nothing is stored in the model store on failure.
    """
    source = source_of(style)
    if isinstance(source.origin, ManualOnly):
        raise ModelError(source.origin.steps)
    if store.read_manifest(style) is not None:
        say(f"{style!r} is already installed; to pull it again, first run: streamer models remove {style}")
        return None
    licence = source.licence
    shown = f"{licence.name}, {licence.url}" if licence.url else licence.name
    say(f"{style}: licence of the weights: {shown}")
    if licence.needs_acceptance and not accept_license:
        raise InvalidInputError(
            f"the licence of the {style!r} weights ({shown}) may restrict their use; "
            "read it, then pass --accept-license to accept it and download them"
        )
    _check_converters(source)
    folder = downloads_dir(style)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _download_and_import(source, folder, accept_changed, progress, say)
    finally:
        for empty in (folder, folder.parent):  # left only when a part is kept for resuming
            with contextlib.suppress(OSError):
                empty.rmdir()


def _download_and_import(
    source: PullSource, folder: Path, accept_changed: bool, progress: bool, say: Callable[[str], None]
) -> ImportResult:
    style = source.style
    if isinstance(source.origin, HttpFile):
        path = download_file(source.origin, folder, source, progress, say)
    elif isinstance(source.origin, ModelScopeModel):
        path = _download_modelscope(source.origin, folder, source, progress, say)
    else:
        raise ModelError(manual_steps(source))
    checksums = {p.name: store.sha256(p) for p in _downloaded_files(path)}
    if isinstance(source.origin, ModelScopeModel):
        _check_against_record(style, checksums, accept_changed)
    say(f"converting {', '.join(checksums)} into style {style!r} ({source.family}) ...")
    try:
        result = import_style(path, style, source.family)
    except ModelError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ModelError(f"the downloaded files of {style!r} failed the import check, and were deleted: {exc}") from exc
    if isinstance(source.origin, ModelScopeModel):
        _record(style, checksums)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def _check_converters(source: PullSource) -> None:
    """Fail before downloading when a package that downloads or imports the files is missing."""
    needed = {"torch": "streamer[convert]"}
    if isinstance(source.origin, HttpFile) and source.origin.name.endswith(".tflite"):
        needed["ai_edge_litert"] = "streamer[tflite]"
    for module, extra in needed.items():
        if importlib.util.find_spec(module) is None:
            raise ModelError(f"importing {source.style!r} needs {module}: pip install '{extra}'")
    if isinstance(source.origin, ModelScopeModel) and importlib.util.find_spec("modelscope") is None:
        raise ModelError(
            f"pulling {source.style!r} needs the ModelScope SDK: {MODELSCOPE_SDK_HINT}; or {manual_steps(source)}"
        )


def _downloaded_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]


# -- plain HTTPS -------------------------------------------------------------------------------------


class _Interrupted(Exception):
    """The connection ended before the whole body came; the `.part` file keeps what did."""


def download_file(
    file: HttpFile, folder: Path, source: PullSource, progress: bool, say: Callable[[str], None] = print
) -> Path:
    """Download `file` into `folder` (via `NAME.part`, resumed with a Range request) and check its
    size and SHA-256; the path of the complete file. A wrong size or checksum deletes the part."""
    url = file.resolved_url()
    part = folder / f"{file.name}.part"
    say(f"downloading {file.name} from {url}")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _fetch(url, part, file, progress, source)
            break
        except _Interrupted as exc:
            have = part.stat().st_size if part.exists() else 0
            if attempt == ATTEMPTS:
                raise ModelError(
                    f"the download of {file.name} stopped at {have:,} of {file.size:,} bytes ({exc}); "
                    "run the same command again to resume it"
                ) from exc
            say(f"the download stopped at {have:,} of {file.size:,} bytes ({exc}); resuming")
            time.sleep(RETRY_PAUSE_S)
    size = part.stat().st_size
    if size != file.size:
        part.unlink()
        raise ModelError(
            f"{file.name} from {url} is {size:,} bytes, expected {file.size:,} (truncated or not the official "
            "file); it was deleted"
        )
    digest = store.sha256(part)
    if digest != file.sha256:
        part.unlink()
        raise ModelError(
            f"{file.name} from {url} has sha256 {digest}, expected {file.sha256} (damaged or not the official "
            "file); it was deleted"
        )
    target = folder / file.name
    part.replace(target)
    return target


def _fetch(url: str, part: Path, file: HttpFile, progress: bool, source: PullSource) -> None:
    """One request: append the rest of `url` to `part` (all of it when the server does not resume)."""
    offset = part.stat().st_size if part.exists() else 0
    if offset > file.size:
        part.unlink()
        offset = 0
    if offset == file.size:
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part is not a prefix the server can continue
            part.unlink()
            raise _Interrupted("the server could not resume it; starting again") from exc
        raise ModelError(
            f"{url} answered HTTP {exc.code} ({exc.reason}); nothing was stored. Or {manual_steps(source)}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        kept = " (the part downloaded so far is kept: the same command resumes it)" if part.exists() else ""
        raise DeviceUnavailableError(
            f"cannot reach {urlsplit(url).netloc} ({reason}){kept}; to install it without streamer's download, "
            f"{manual_steps(source)}"
        ) from exc
    with response:
        if offset and (response.status != 206 or not _starts_at(response.headers.get("Content-Range"), offset)):
            offset = 0  # the server sent the whole file
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with open(part, "ab" if offset else "wb") as out, _bar(progress, file.name, file.size, offset) as bar:
            try:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    bar(len(chunk))
            except (OSError, ValueError, http.client.HTTPException) as exc:  # a reset, a timeout, IncompleteRead
                raise _Interrupted(str(exc) or type(exc).__name__) from exc
    if expected is not None and received < expected:
        raise _Interrupted("the connection closed early")


def _starts_at(content_range: str | None, offset: int) -> bool:
    """Whether a `Content-Range: bytes START-END/TOTAL` answer continues at `offset`."""
    if not content_range or not content_range.startswith("bytes "):
        return False
    start = content_range[len("bytes ") :].split("-", 1)[0]
    return start.isdigit() and int(start) == offset


@contextlib.contextmanager
def _bar(progress: bool, name: str, total: int, done: int) -> Iterator[Callable[[int], object]]:
    """A byte progress bar (tqdm) starting at `done`; yields its `update` (a no-op without progress)."""
    if not progress:
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=name) as bar:
        yield bar.update


# -- ModelScope ----------------------------------------------------------------------------------------


def _download_modelscope(
    model: ModelScopeModel, folder: Path, source: PullSource, progress: bool, say: Callable[[str], None]
) -> Path:
    """Download `model.files` with the ModelScope SDK into `folder`; the folder."""
    endpoint = os.environ.get(MODELSCOPE_ENDPOINT_ENV) or "modelscope.cn"
    say(f"downloading {', '.join(model.files)} of {model.model_id} from {endpoint}")
    try:
        with _sdk_quiet(progress):
            modelscope_snapshot(model.model_id, folder, model.files)
    except Exception as exc:
        error = _modelscope_error(exc, model, source)
        if error is None:
            raise
        raise error from exc
    missing = [name for name in model.required if not (folder / name).is_file()]
    if missing:
        shutil.rmtree(folder, ignore_errors=True)
        raise ModelError(f"{model.model_id} on ModelScope has no {', '.join(missing)}; {manual_steps(source)}")
    for stray in folder.iterdir():  # what the SDK keeps beside the files (locks, temporaries)
        if stray.name not in model.files:
            shutil.rmtree(stray) if stray.is_dir() else stray.unlink()
    return folder


def modelscope_snapshot(model_id: str, folder: Path, files: tuple[str, ...]) -> None:
    """The one call into the ModelScope SDK: `files` of `model_id` into `folder` (its lock files
    under `folder/.modelscope`), from `MODELSCOPE_ENDPOINT` as it is now (the SDK would keep the
    first value it read). The SDK checks each file against the size and SHA-256 it lists."""
    from modelscope.hub.snapshot_download import snapshot_download

    snapshot_download(
        model_id,
        cache_dir=str(folder / ".modelscope"),
        local_dir=str(folder),
        allow_patterns=list(files),
        endpoint=os.environ.get(MODELSCOPE_ENDPOINT_ENV) or None,
    )


# The SDK's loggers: their retry warnings would precede the one line that says what went wrong.
_SDK_LOGGERS = ("modelscope", "modelscope_hub")


@contextlib.contextmanager
def _sdk_quiet(progress: bool) -> Iterator[None]:
    """Only the SDK's errors are logged; without `progress` its progress bars, which it always draws on
    stderr, are discarded with the rest of stderr while it runs (what goes wrong comes as an exception)."""
    try:  # the SDK sets its loggers' levels when first imported
        importlib.import_module("modelscope.hub.snapshot_download")
    except ImportError as exc:
        raise ModelError(f"the ModelScope SDK cannot be loaded ({exc}); {MODELSCOPE_SDK_HINT}") from exc
    loggers = [logging.getLogger(name) for name in _SDK_LOGGERS]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with contextlib.ExitStack() as stack:
            if not progress:
                stack.enter_context(contextlib.redirect_stderr(stack.enter_context(open(os.devnull, "w"))))
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _modelscope_error(exc: Exception, model: ModelScopeModel, source: PullSource) -> StreamerError | None:
    """The one-line error for what the SDK raised; None for what is not a download problem (a bug)."""
    import requests

    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, requests.HTTPError):
        if status == 404 or "[404]" in message:
            return ModelError(
                f"ModelScope has no model {model.model_id} (HTTP 404); nothing was stored. Or {manual_steps(source)}"
            )
        return ModelError(f"ModelScope refused {model.model_id}: {message}; nothing was stored")
    if isinstance(exc, (ConnectionError, requests.ConnectionError, requests.Timeout, TimeoutError)):
        return DeviceUnavailableError(
            f"cannot reach ModelScope ({message}); to install it without streamer's download, {manual_steps(source)}"
        )
    if isinstance(exc, (OSError, ValueError)) or _is_sdk_error(exc):
        return ModelError(f"downloading {model.model_id} from ModelScope failed: {message}; nothing was stored")
    return None


def _is_sdk_error(exc: Exception) -> bool:
    try:
        from modelscope_hub.errors import HubError
    except ImportError:  # older SDKs raise requests' and the standard library's errors only
        return False
    return isinstance(exc, HubError)


# -- the record of first pulls --------------------------------------------------------------------------


def _read_record() -> dict[str, dict[str, str]]:
    path = pulled_record_path()
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelError(f"the record of pulled files {path} is damaged; delete it to start a new one") from exc
    return record if isinstance(record, dict) else {}


def _check_against_record(style: str, checksums: dict[str, str], accept_changed: bool) -> None:
    """`ModelError` (deleting the download) when a file differs from the one first pulled for `style`."""
    first = _read_record().get(style, {})
    changed = [name for name, digest in checksums.items() if name in first and first[name] != digest]
    if changed and not accept_changed:
        shutil.rmtree(downloads_dir(style), ignore_errors=True)
        name = changed[0]
        raise ModelError(
            f"{name} of {style!r} differs from the one first pulled (sha256 {first[name][:16]}…, now "
            f"{checksums[name][:16]}…); nothing was stored. If the model was updated on purpose, pull it "
            "with --accept-changed"
        )


def _record(style: str, checksums: dict[str, str]) -> None:
    """Record `style`'s file checksums (replacing its earlier ones), written whole or not at all."""
    record = _read_record()
    record[style] = checksums
    path = pulled_record_path()
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(record, indent=2, sort_keys=True))
    temporary.replace(path)
