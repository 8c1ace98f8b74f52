"""Shared fixtures: clips generated with PyAV from the synthetic source, and the real test media."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streamer.capture.synthetic import Motion, SyntheticSource, write_clip

REPO = Path(__file__).resolve().parents[1]
# Real clips for the optional tests; override with STREAMER_MEDIA_DIR.
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))


def moving_face(duration: float = 1.5, size: tuple[int, int] = (640, 480), **kw) -> SyntheticSource:
    w, h = size
    k = min(w / 640, h / 480)
    motion = Motion((w / 2, h / 2), scale=1.3 * k, sway=(60 * k, 20 * k), tilt=8, period=3.0)
    return SyntheticSource([motion], size=size, duration=duration, **kw)


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory) -> Path:
    """640x480 H.264 + AAC, 45 frames of a moving face (generated once per session)."""
    path = tmp_path_factory.mktemp("clips") / "face.mp4"
    write_clip(path, (f.image for f in moving_face()))
    return path


@pytest.fixture
def make_clip(tmp_path):
    """make_clip(name, source=None, **write_clip_kwargs) -> Path of a freshly written clip."""

    def make(name: str, source: SyntheticSource | None = None, **kw) -> Path:
        path = tmp_path / name
        source = source or moving_face(duration=1.0)
        write_clip(path, (f.image for f in source), fps=source.fps, **kw)
        return path

    return make


def vfr_pts(n: int) -> tuple[list[int], Fraction]:
    """Variable-rate timestamps in 1/1000 s: alternately 25 ms and 45 ms apart."""
    pts, t = [], 0
    for i in range(n):
        pts.append(t)
        t += 25 if i % 2 else 45
    return pts, Fraction(1, 1000)


# Trained reference weights (non-commercial licence; used only by tests and benchmarks, never shipped).
MODELS_DIR = Path(os.environ.get("STREAMER_MODELS_DIR", REPO.parent / "shared" / "models"))
REFERENCE_TFLITE = MODELS_DIR / "whitebox_cartoon_gan_fp16.tflite"


@pytest.fixture
def streamer_home(tmp_path, monkeypatch) -> Path:
    """An empty model store for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("STREAMER_HOME", str(home))
    return home


# A DCT-Net-layout download (random weights, the official file names) imported as this style.
DCTNET_FIXTURE_STYLE = "anime"


@pytest.fixture(scope="session")
def dctnet_store(tmp_path_factory) -> Path:
    """A model store (ROOT/home) holding a DCT-Net model folder imported with `streamer models import`."""
    torch = pytest.importorskip("torch")
    import cv2

    from streamer.cli import main
    from streamer.engines.graphdef import write_frozen_graph
    from streamer.engines.models.unet import CartoonUNet

    from .fakes import frozen_unet_constants

    root = tmp_path_factory.mktemp("store")
    folder = root / "dctnet_download"
    folder.mkdir()
    for seed, name in ((0, "cartoon_h.pb"), (1, "cartoon_bg.pb")):
        torch.manual_seed(seed)
        write_frozen_graph(folder / name, frozen_unet_constants(CartoonUNet(rgb=False, guided_eps=1e-2)))
    alpha = np.zeros((288, 288), np.uint8)
    cv2.ellipse(alpha, (144, 150), (100, 130), 0, 0, 360, 255, -1)
    cv2.imwrite(str(folder / "alpha.jpg"), cv2.GaussianBlur(alpha, (0, 0), 12))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STREAMER_HOME", str(root / "home"))
        assert main(["models", "import", str(folder), "--style", DCTNET_FIXTURE_STYLE]) == 0
    return root


@pytest.fixture(scope="session")
def photo2cartoon_store(tmp_path_factory) -> Path:
    """A model store (ROOT/home) holding photo2cartoon imported from a `genA2B` checkpoint (random weights)."""
    torch = pytest.importorskip("torch")
    from streamer.cli import main
    from streamer.engines.models.photo2cartoon import Photo2Cartoon

    root = tmp_path_factory.mktemp("p2c")
    torch.manual_seed(3)
    checkpoint = root / "photo2cartoon_weights.pt"
    torch.save({"genA2B": Photo2Cartoon().generator.state_dict()}, checkpoint)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STREAMER_HOME", str(root / "home"))
        assert main(["models", "import", str(checkpoint), "--style", "photo2cartoon"]) == 0
    return root
