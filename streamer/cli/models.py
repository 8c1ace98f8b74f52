"""`streamer models ...`: list, pull, import, verify and remove styles (see `streamer.engines.install`
and `streamer.engines.pull`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from streamer.errors import InvalidInputError, ModelError


def add_parser(commands) -> None:
    models = commands.add_parser("models", help="list, pull, import and verify styles")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    sub.add_parser("list", help="every style: family, input, files, whether installed, where to get it")
    imp = sub.add_parser(
        "import",
        help="convert and store a model",
        description="Convert official model files into a style. Either --style NAME for a known style, "
        "or --family and --name to register your own (fine-tuned) model as a new style.",
    )
    imp.add_argument("path", type=Path, help="a DCT-Net model folder, a .pb/.tflite file, or a photo2cartoon .pt/.onnx")
    imp.add_argument("--style", help="a known style name (see `streamer models list`)")
    imp.add_argument("--family", choices=["dctnet", "photo2cartoon"], help="the architecture of a custom model")
    imp.add_argument("--name", help="the style name to give a custom model")
    pull = sub.add_parser(
        "pull",
        help="download a style's official files and import them",
        description="Download a learned style's official files (DCT-Net styles from ModelScope, whitebox from "
        "GitHub), check them and import them. The weights' licence is shown; non-commercial or unstated "
        "licences need --accept-license. photo2cartoon cannot be downloaded automatically: the command "
        "prints how to get its files and exits with status 2.",
    )
    pull.add_argument("style", help="the style to pull (see `streamer models list`)")
    pull.add_argument("--accept-license", action="store_true", help="accept the licence of the weights")
    pull.add_argument(
        "--accept-changed",
        action="store_true",
        help="accept ModelScope files that differ from those pulled the first time (an updated model)",
    )
    pull.add_argument("--no-progress", action="store_true", help="no progress bar")
    verify = sub.add_parser("verify", help="check stored styles: checksums and a test inference")
    verify.add_argument("styles", nargs="*", help="styles to check (default: all installed)")
    remove = sub.add_parser("remove", help="delete a stored style")
    remove.add_argument("style")
    models.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    commands = {"list": _list, "pull": _pull, "import": _import, "verify": _verify, "remove": _remove}
    return commands[args.models_command](args)


def _list(args: argparse.Namespace) -> int:
    from streamer.engines import store
    from streamer.engines.families import FAMILIES
    from streamer.engines.registry import CATALOG, DEFAULT_STYLE, available_styles, pull_command

    installed = {m.style: m for m in store.installed_styles()}
    available = available_styles()
    for name in sorted(set(CATALOG) | set(installed)):
        spec, manifest = CATALOG.get(name), installed.get(name)
        family = spec.family if spec else manifest.family if manifest else "custom"
        state = ("built in" if family == "builtin" else "installed") if name in available else "not installed"
        tags = [family, state] + (["default"] if name == DEFAULT_STYLE else []) + (["custom"] if not spec else [])
        print(f"{name}  [{', '.join(tags)}]")
        if spec:
            print(f"  {spec.description}")
        if family in FAMILIES:
            print(f"  input: {FAMILIES[family].input_description}")
        else:
            print("  input: any head crop and background; uint8 BGR")
        if spec and spec.files:
            print(f"  files: {', '.join(spec.files)}; get them from {spec.source} (licence: {spec.licence})")
            if name not in available and (pull := pull_command(name)):
                print(f"  install: {pull}")
        if manifest:
            stored = "; ".join(f"{manifest.files[r]} sha256 {h[:16]}" for r, h in sorted(manifest.sha256.items()))
            sources = "; ".join(f"{n} sha256 {h[:16]}" for n, h in manifest.source.items())
            print(f"  stored in {store.models_dir() / name}: {stored}")
            print(f"  converted from: {sources}")
    print(f"\navailable here: {', '.join(available)}")
    print(f"models folder: {store.models_dir()} (set STREAMER_HOME to move it)")
    return 0


def _import(args: argparse.Namespace) -> int:
    from streamer.engines.install import import_style
    from streamer.engines.registry import CATALOG

    if args.style and (args.family or args.name):
        raise InvalidInputError("give either --style NAME, or --family and --name, not both")
    if args.style:
        if args.style not in CATALOG or CATALOG[args.style].family == "builtin":
            raise InvalidInputError(
                f"{args.style!r} is not a known learned style; for your own model use --family and --name"
            )
        style, family, custom = args.style, CATALOG[args.style].family, False
    elif args.family and args.name:
        if args.name in CATALOG:
            raise InvalidInputError(f"{args.name!r} is a known style; pick another name for a custom model")
        style, family, custom = args.name, args.family, True
    else:
        raise InvalidInputError("give --style NAME, or --family and --name")
    print(f"converting {args.path} into style {style!r} ({family}) ...", flush=True)
    result = import_style(args.path, style, family, custom=custom)
    print(f"stored {style!r} in {result.folder}; use it with --style {style}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from streamer.engines.pull import pull

    result = pull(
        args.style,
        accept_license=args.accept_license,
        accept_changed=args.accept_changed,
        progress=not args.no_progress,
        say=lambda line: print(line, flush=True),
    )
    if result is not None:
        print(f"stored {args.style!r} in {result.folder}; use it with --style {args.style}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from streamer.engines import store
    from streamer.engines.install import verify_style

    styles = args.styles or [m.style for m in store.installed_styles()]
    if not styles:
        print("no style is installed; see `streamer models list`")
        return 0
    failed = 0
    for style in styles:
        problems = verify_style(style)
        print(f"{style}: {'ok' if not problems else 'FAILED: ' + '; '.join(problems)}")
        failed += bool(problems)
    if failed:
        raise ModelError(f"{failed} of {len(styles)} styles failed verification")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from streamer.engines.install import remove_style

    remove_style(args.style)
    print(f"removed {args.style}")
    return 0
