"""Styles a user can pick with `--style`, and how to open one on a backend.

The catalog lists every known style, installed or not, with the files it needs and where to get
them; styles imported with `streamer models import` (custom ones included) come from the store.
`available_styles()` is what can be opened now (built in or installed): the one list the commands,
the server's page, the Gradio page and the live `s` key step through.

`open_engine` chooses a backend for each network from the backend registry's data
(`streamer.engines.backends`): `auto` tries the backends in their registered order on the devices
they declare, and every backend it skips leaves its reason in `engine.notes`; a backend asked for
by name that cannot run is an error with one sentence, unless it declares that it falls back
(TensorRT: engines are built offline), which is then a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamer.engines import backends, store
from streamer.engines.backends import Backend, Network
from streamer.engines.base import DCTNET_LAYOUT, StyleEngine, feathered_head_mask
from streamer.engines.options import (
    BACKGROUNDS,
    BUILTIN_STYLE,
    DEFAULT_STYLE,
    EngineOptions,
    backend_choices,
    device_choices,
    precision_choices,
)
from streamer.engines.runner import Runner
from streamer.errors import DeviceUnavailableError, InvalidInputError, ModelError, StreamerError

# The choices, as the commands list them (the registry's, plus `auto`).
BACKENDS = backend_choices()
DEVICES = device_choices()
PRECISIONS = precision_choices()
BACKGROUND_STYLES = tuple(BACKGROUNDS)

_MODELSCOPE = "https://modelscope.cn/models/damo/"
_DCTNET_FILES = ("cartoon_h.pb", "cartoon_bg.pb", "alpha.jpg")


@dataclass(frozen=True)
class StyleSpec:
    """A known style. `backends` and `devices`, when given, are the only ones it runs on;
    `model_id` is the style's ModelScope model; `pullable`: `streamer models pull` can download
    its files (`streamer.engines.pull` says from where)."""

    name: str
    family: str
    description: str
    files: tuple[str, ...] = ()
    source: str = ""
    licence: str = ""
    backends: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    model_id: str = ""
    pullable: bool = False


def _dctnet(name: str, model_id: str, description: str) -> StyleSpec:
    source = f"{_MODELSCOPE}{model_id} (the model folder)"
    return StyleSpec(
        name,
        "dctnet",
        description,
        _DCTNET_FILES,
        source,
        "see the model card",
        model_id=f"damo/{model_id}",
        pullable=True,
    )


CATALOG: dict[str, StyleSpec] = {
    spec.name: spec
    for spec in (
        StyleSpec(
            BUILTIN_STYLE,
            "builtin",
            "a clean cartoon: flat tones, natural skin, continuous outlines; no weights needed",
            backends=("onnxruntime",),
            devices=("cpu",),
        ),
        StyleSpec(
            "poster",
            "builtin",
            "the first built-in look: posterized tone bands and inked edges; no weights needed",
            backends=("onnxruntime",),
            devices=("cpu",),
        ),
        _dctnet("anime", "cv_unet_person-image-cartoon_compound-models", "DCT-Net anime"),
        _dctnet("3d", "cv_unet_person-image-cartoon-3d_compound-models", "DCT-Net 3D"),
        _dctnet("handdrawn", "cv_unet_person-image-cartoon-handdrawn_compound-models", "DCT-Net hand-drawn"),
        _dctnet("sketch", "cv_unet_person-image-cartoon-sketch_compound-models", "DCT-Net sketch"),
        _dctnet("artstyle", "cv_unet_person-image-cartoon-artstyle_compound-models", "DCT-Net art style"),
        _dctnet("design", "cv_unet_person-image-cartoon-sd-design_compound-models", "DCT-Net design (SD variant)"),
        _dctnet(
            "illustration",
            "cv_unet_person-image-cartoon-sd-illustration_compound-models",
            "DCT-Net illustration (SD variant)",
        ),
        StyleSpec(
            "photo2cartoon",
            "photo2cartoon",
            "photo2cartoon (Minivision): heads only; the background gets the built-in style",
            ("photo2cartoon_weights.pt", "or photo2cartoon_weights.onnx"),
            "https://github.com/minivision-ai/photo2cartoon (README: pretrained model links)",
            "MIT (code); see the repository for the weights",
        ),
        StyleSpec(
            "whitebox",
            "dctnet",
            "White-box Cartoonization (same U-Net as DCT-Net), from its TFLite export",
            ("whitebox_cartoon_gan_fp16.tflite",),
            "https://github.com/margaretmz/Cartoonizer-with-TFLite (android/app/src/main/ml/)",
            "CC BY-NC-SA 4.0 (non-commercial)",
            pullable=True,
        ),
    )
}


def style_names() -> list[str]:
    """Every style known here: the catalog's, installed or not, and the installed custom ones."""
    return sorted(set(CATALOG) | {m.style for m in store.installed_styles()})


def is_learned(style: str) -> bool:
    """Whether `style` is a trained network (imported from official weights), not the built-in one."""
    spec = CATALOG.get(style)
    return spec is None or spec.family != "builtin"


def uses_reuse(options: EngineOptions) -> bool:
    """Whether heads are carried between keyframes (`options.temporal`; auto: for learned styles)."""
    return options.temporal == "reuse" or (options.temporal == "auto" and is_learned(options.style))


def available_styles() -> list[str]:
    """The styles that can be opened now: the built-in ones and the installed ones."""
    builtin = {name for name, spec in CATALOG.items() if spec.family == "builtin"}
    return sorted(builtin | {m.style for m in store.installed_styles()})


def tensorrt_engine_path(style: str, role: str, precision: str):
    """Where `streamer-trt-build` puts the engine of a style's head or background network."""
    from streamer.engines.backends.tensorrt import engine_path

    return engine_path(style, role, precision)


def _unavailable_style_error(style: str) -> StreamerError:
    spec = CATALOG.get(style)
    if spec is None:
        return InvalidInputError(f"unknown style {style!r}; available: {', '.join(available_styles())}")
    by_hand = f"get {', '.join(spec.files)} from {spec.source}, then run: streamer models import PATH --style {style}"
    pull = pull_command(style)
    if pull:
        return ModelError(f"style {style!r} is not installed: run `{pull}` (or {by_hand})")
    return ModelError(f"style {style!r} is not installed: {by_hand}")


def _damaged_style_error(manifest: store.Manifest, problems: list[str]) -> ModelError:
    """The one sentence for an installed style whose files are missing or changed: what is wrong,
    and the command that installs it again."""
    style = manifest.style
    if manifest.custom:
        again = f"import it again: streamer models import PATH --family {manifest.family} --name {style}"
    else:
        pull = pull_command(style)
        again = f"reinstall it: `{pull}`" if pull else f"import it again: streamer models import PATH --style {style}"
    return ModelError(f"the installed style {style!r} is damaged: {'; '.join(problems)}; {again}")


def pull_command(style: str) -> str | None:
    """The `streamer models pull` command that installs `style` (it shows the licence and says when
    it must be accepted), or None where the files cannot be pulled."""
    spec = CATALOG.get(style)
    return f"streamer models pull {style}" if spec is not None and spec.pullable else None


def check_available(style: str) -> None:
    """The error `open_engine` would raise for a style that cannot be opened here (unknown, or not
    installed), before any work: for commands that open engines later (`serve`, `demo`)."""
    if style not in available_styles():
        raise _unavailable_style_error(style)


# -- choosing a backend ---------------------------------------------------------------------------


def _builtin_networks(style: str) -> dict[str, Network]:
    from streamer.engines.toon import builtin_models

    return {role: Network(style, role, model.SerializeToString()) for role, model in builtin_models(style).items()}


def _stored_networks(manifest: store.Manifest) -> dict[str, Network]:
    networks = {}
    for role in ("head", "background"):
        path = manifest.path(role)
        if path is not None:
            int8 = manifest.path(f"{role}_int8")
            networks[role] = Network(manifest.style, role, path, int8, manifest, manifest.sha256.get(role, ""))
    return networks


def _where(backend: Backend, device: str) -> str:
    """ "tensorrt" for a backend with one device, "torch on cuda" for one with several."""
    return backend.name if len(backend.devices) == 1 else f"{backend.name} on {device}"


def _describe(runner: Runner) -> str:
    return f"{runner.backend} ({runner.device.split(':')[0]})"


def _add(notes: list[str], note: str) -> None:
    if note not in notes:  # the head and the background often share a reason
        notes.append(note)


@dataclass(frozen=True)
class _Skip:
    backend: Backend
    device: str
    reason: str
    missing: bool  # the backend or its device is missing here (not a form of this network)


class _Choice:
    """Opens one network on the first (backend, device) pair that can run it, keeping why the
    pairs before it could not."""

    def __init__(self, network: Network, options: EngineOptions, spec: StyleSpec | None) -> None:
        self.network, self.options = network, options
        self.backends = spec.backends if spec else ()
        self.devices = spec.devices if spec else ()
        # The style's own device restriction overrides --device (`_open_network` notes it).
        self.device = options.device if not self.devices or options.device in self.devices else "auto"
        self.skipped: list[_Skip] = []

    def pairs(self, candidates: list[tuple[Backend, str]]) -> list[tuple[Backend, str]]:
        return [
            (backend, device)
            for backend, device in candidates
            if self.device in ("auto", device)
            and (not self.devices or device in self.devices)
            and (not self.backends or backend.name in self.backends)
        ]

    def first(self, pairs: list[tuple[Backend, str]]) -> tuple[Runner, str] | None:
        for backend, device in pairs:
            precision = backend.precision_for(device, self.options.precision)
            missing = backend.unavailable(device)
            reason = missing or backend.unusable(self.network, device, precision)
            if reason:
                self.skipped.append(_Skip(backend, device, reason, missing is not None))
                continue
            return backend.open(self.network, device, precision, self.options.threads), device
        return None

    def failure(self) -> DeviceUnavailableError:
        tried = "; ".join(f"{_where(s.backend, s.device)}: {s.reason}" for s in self.skipped)
        where = "here" if self.device == "auto" else f"on {self.device}"
        return DeviceUnavailableError(f"no backend can run {self.network.name} {where} ({tried})")


def _auto_pairs(exclude: str = "") -> list[tuple[Backend, str]]:
    """`auto`'s candidates: each backend in registered order, on the devices it declares for auto."""
    return [(b, d) for b in backends.registered() if b.name != exclude for d in b.auto_devices]


def _named_backend(name: str, choice: _Choice) -> Backend:
    backend = backends.get(name)
    if backend is None:
        raise InvalidInputError(f"unknown backend {name!r}; available: {', '.join(backend_choices())}")
    if choice.backends and name not in choice.backends:
        raise InvalidInputError(
            f"style {choice.network.style!r} runs on {', '.join(choice.backends)} only; "
            f"--backend {name} is not available for it"
        )
    return backend


def _explicit_failure(backend: Backend, choice: _Choice) -> Exception:
    """The one-sentence error for a backend asked for by name that cannot open the network."""
    for skip in choice.skipped:
        if not skip.missing:  # the machine has what it takes; the style lacks a form this backend needs
            return ModelError(skip.reason)
    asked = f"--backend {backend.name}" + ("" if choice.device == "auto" else f" --device {choice.device}")
    return DeviceUnavailableError(f"{asked} was asked for, but {'; '.join(s.reason for s in choice.skipped)}")


def _open_network(network: Network, options: EngineOptions, spec: StyleSpec | None, notes: list[str]) -> Runner:
    """The runner for `network` (see the module docstring); what the user should know goes to `notes`."""
    choice = _Choice(network, options, spec)
    if choice.device != options.device:
        only = ", ".join(choice.devices)
        _add(notes, f"style {network.style!r} runs on {only} only; --device {options.device} does not apply to it")
    if options.backend == "auto":
        found = choice.first(choice.pairs(_auto_pairs()))
    else:
        named = _named_backend(options.backend, choice)
        pairs = choice.pairs([(named, device) for device in named.devices])
        if not pairs:
            raise InvalidInputError(
                f"--backend {named.name} runs on {', '.join(named.devices)}; --device {options.device} is not one"
            )
        found = choice.first(pairs)
        if found is None and not named.falls_back:
            raise _explicit_failure(named, choice)
        if found is None:
            failed, choice.skipped = choice.skipped, []
            found = choice.first(choice.pairs(_auto_pairs(exclude=named.name)))
            if found is None:
                choice.skipped = failed + choice.skipped
            else:
                last = failed[-1]
                hint = named.hint.format(style=network.style) if last.missing else ""
                hint = f". {hint[:1].upper()}{hint[1:]}" if hint else ""
                _add(
                    notes,
                    f"{named.title} not used for {network.role}: {last.reason}; using {_describe(found[0])}{hint}",
                )
    if found is None:
        raise choice.failure()
    runner, device = found
    for skip in choice.skipped:
        _add(notes, f"{_where(skip.backend, skip.device)} skipped: {skip.reason}")
    if runner.device.split(":")[0] != device:
        _add(notes, f"{network.name} runs on {runner.device}, not {device}: {runner.backend} could not use it")
    if options.precision != "auto" and runner.precision != options.precision:
        _add(
            notes,
            f"{options.precision} is not available for {network.name} on {_describe(runner)}; using {runner.precision}",
        )
    return runner


# -- opening a style --------------------------------------------------------------------------------


def _builtin_background(style: str, threads: int) -> Runner:
    """The background network of a built-in style, on its own backend (the background of head-only
    families, and `--background-style toon`)."""
    notes: list[str] = []
    options = EngineOptions(style=style, threads=threads)
    return _open_network(_builtin_networks(style)["background"], options, CATALOG[style], notes)


def _open_style(options: EngineOptions) -> StyleEngine:
    style = options.style
    spec = CATALOG.get(style)
    notes: list[str] = []
    if spec is not None and spec.family == "builtin":
        networks = _builtin_networks(style)
        runners = {role: _open_network(net, options, spec, notes) for role, net in networks.items()}
        engine = StyleEngine(style, runners["head"], runners["background"], DCTNET_LAYOUT)
        engine.notes = notes
        return engine
    manifest = store.read_manifest(style)
    if manifest is None:
        raise _unavailable_style_error(style)
    problems = store.file_problems(manifest)  # every file against its SHA-256: a few ms per style
    if problems:
        raise _damaged_style_error(manifest, problems)
    from streamer.engines.families import FAMILIES, read_mask

    family = FAMILIES[manifest.family]
    runners = {role: _open_network(net, options, spec, notes) for role, net in _stored_networks(manifest).items()}
    # A head-only family: the background gets the built-in style.
    background = runners.get("background") or _builtin_background(BUILTIN_STYLE, options.threads)
    mask_path = manifest.path("mask")
    layout = family.layout
    mask = read_mask(mask_path, layout.size) if mask_path else feathered_head_mask(layout)
    engine = StyleEngine(
        style, runners["head"], background, layout, mask, family.background_multiple, family.segment_heads
    )
    if "background" not in runners:
        engine.background_of = BUILTIN_STYLE
    engine.notes = notes
    return engine


def open_engine(
    options: EngineOptions | str | None = None,
    backend: str | None = None,
    threads: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    background_style: str | None = None,
) -> StyleEngine:
    """Build the engine `options` describe (any options class that extends `EngineOptions`).

    Also takes the style's name and keywords: `open_engine("anime", backend="torch", device="cpu")`;
    keywords given with options replace those fields.

    `precision` auto is each backend's default on its device (fp16 on a GPU, int8 where stored on
    a CPU). `background_style` is `same`, `toon` (the cheap built-in style: for CPUs) or `none` (the
    background stays as it is).

    Never builds a TensorRT engine: a missing or stale one falls back to torch or ONNX Runtime and
    says so in `engine.notes`, where every backend `auto` skipped also leaves its reason. Errors
    name what is missing and how to get it.
    """
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("backend", backend),
            ("threads", threads),
            ("device", device),
            ("precision", precision),
            ("background_style", background_style),
        )
        if value is not None
    }
    if isinstance(options, EngineOptions):
        options = EngineOptions(**{**options.engine_fields(), **changes})
    else:
        options = EngineOptions(style=options or DEFAULT_STYLE, **changes)
    options.validate()
    engine = _open_style(options)
    background = BACKGROUNDS[options.background_style]
    if not background.stylized:
        engine.replace_background(None)
        engine.background_of = None
    elif background.network_of not in (None, options.style):
        engine.replace_background(_builtin_background(background.network_of, options.threads), multiple=1)
        engine.background_of = background.network_of
    elif background.fallback_of is not None and engine.background_of not in (None, background.fallback_of):
        engine.set_fallback_background(_builtin_background(background.fallback_of, options.threads))
    return engine
