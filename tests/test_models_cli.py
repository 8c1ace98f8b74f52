"""`streamer models ...` and learned styles from the user's side: import, list, verify, stylize."""

import os

import pytest

torch = pytest.importorskip("torch")

from streamer.cli import EXIT_USER_ERROR, main  # noqa: E402
from streamer.engines.graphdef import write_frozen_graph  # noqa: E402
from streamer.engines.models.unet import CartoonUNet  # noqa: E402

from .conftest import DCTNET_FIXTURE_STYLE  # noqa: E402
from .fakes import frozen_unet_constants  # noqa: E402
from .media_probe import probe  # noqa: E402


def _run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def store(dctnet_store, monkeypatch):
    monkeypatch.setenv("STREAMER_HOME", str(dctnet_store / "home"))
    return dctnet_store


def test_list_shows_every_style_and_what_is_installed(store, capsys):
    code, out, _ = _run(capsys, "models", "list")
    assert code == 0
    for name in (
        "toon",
        DCTNET_FIXTURE_STYLE,
        "3d",
        "handdrawn",
        "sketch",
        "artstyle",
        "design",
        "illustration",
        "photo2cartoon",
    ):
        assert f"\n{name}  [" in "\n" + out
    anime = out.split("anime  [")[1].split("\n\n")[0]
    assert "installed" in anime.splitlines()[0] and "not installed" not in anime.splitlines()[0]
    assert "head.onnx sha256" in anime and "cartoon_h.pb sha256" in anime and "alpha.jpg" in anime
    assert "sketch  [dctnet, not installed]" in out
    assert "modelscope.cn" in out.split("sketch  [")[1]


def test_a_missing_style_says_which_files_and_where(tmp_path, face_clip, streamer_home, capsys):
    code, _, err = _run(
        capsys, "stylize", str(face_clip), str(tmp_path / "o.mp4"), "--style", "sketch", "--no-progress"
    )
    assert code == EXIT_USER_ERROR
    assert "cartoon_h.pb" in err and "modelscope.cn" in err and "streamer models import" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "o.mp4").exists()


def test_stylize_with_an_imported_style_on_both_backends(store, face_clip, tmp_path, capsys):
    outputs = {}
    for backend in ("onnxruntime", "torch"):
        out = tmp_path / f"{backend}.mp4"
        code, text, err = _run(
            capsys,
            "stylize",
            str(face_clip),
            str(out),
            "--style",
            DCTNET_FIXTURE_STYLE,
            "--backend",
            backend,
            "--no-progress",
        )
        assert code == 0, err
        assert len(probe(out).frame_times) == len(probe(face_clip).frame_times)
        outputs[backend] = text
    assert "backend onnxruntime" in outputs["onnxruntime"] and "backend torch" in outputs["torch"]


def test_custom_style_registers_and_works_everywhere(store, tmp_path, capsys):
    import cv2

    torch.manual_seed(5)
    pb = tmp_path / "my_finetune.pb"
    write_frozen_graph(pb, frozen_unet_constants(CartoonUNet(rgb=False, guided_eps=1e-2)))
    code, out, err = _run(capsys, "models", "import", str(pb), "--family", "dctnet", "--name", "my-style")
    assert code == 0, err
    code, out, _ = _run(capsys, "models", "list")
    assert "my-style  [dctnet, installed, custom]" in out
    photo = tmp_path / "p.png"
    from streamer.capture.synthetic import Motion, SyntheticSource

    cv2.imwrite(str(photo), SyntheticSource([Motion((320, 240), scale=1.3)]).render(0))
    code, _, err = _run(capsys, "stylize", str(photo), str(tmp_path / "p_out.png"), "--style", "my-style")
    assert code == 0, err
    assert _run(capsys, "models", "remove", "my-style")[0] == 0
    assert "my-style" not in _run(capsys, "models", "list")[1]


def test_verify_catches_a_changed_file_and_a_failed_import_stores_nothing(store, tmp_path, capsys):
    assert _run(capsys, "models", "verify")[0] == 0
    head = store / "home" / "models" / DCTNET_FIXTURE_STYLE / "head.onnx"
    original = head.read_bytes()
    try:
        head.write_bytes(original[:-10] + b"0123456789")
        code, out, err = _run(capsys, "models", "verify", DCTNET_FIXTURE_STYLE)
        assert code == EXIT_USER_ERROR and "checksum" in out
    finally:
        head.write_bytes(original)

    before = sorted(os.listdir(store / "home" / "models"))
    broken = tmp_path / "broken.pb"
    broken.write_bytes(b"not a graph at all" * 50)
    code, _, err = _run(capsys, "models", "import", str(broken), "--family", "dctnet", "--name", "broken")
    assert code == EXIT_USER_ERROR and "broken.pb" in err and err.count("\n") == 1
    assert sorted(os.listdir(store / "home" / "models")) == before, "nothing stored, no leftovers"
