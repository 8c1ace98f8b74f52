"""`streamer demo` (Gradio) through its API, as gradio_client uses it."""

import socket

import numpy as np
import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from .media_probe import probe  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_url():
    from streamer.server.gradio_app import launch

    port = _free_port()
    app = launch(port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_upload_api_returns_the_video_stylized_with_its_audio(demo_url, face_clip):
    client = gradio_client.Client(demo_url, verbose=False)
    result = client.predict(gradio_client.handle_file(str(face_clip)), "toon", api_name="/stylize_video")
    path = result["video"] if isinstance(result, dict) else result
    src, out = probe(face_clip), probe(path)
    assert len(out.frame_times) == len(src.frame_times)
    assert out.audio_codecs == ["aac"] and out.audio_packets == src.audio_packets
    assert (out.width, out.height) == (src.width, src.height)


def test_an_upload_that_is_not_a_video_is_one_clear_error(demo_url, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    client = gradio_client.Client(demo_url, verbose=False)
    with pytest.raises(gradio_client.exceptions.AppError, match=r"not a video file|not a media file"):
        client.predict(gradio_client.handle_file(str(text)), "toon", api_name="/stylize_video")


def test_image_api(demo_url, tmp_path):
    import cv2

    from streamer.capture.synthetic import Motion, SyntheticSource

    photo = tmp_path / "face.png"
    original = SyntheticSource([Motion((320, 240), scale=1.3)]).render(0)
    cv2.imwrite(str(photo), original)
    client = gradio_client.Client(demo_url, verbose=False)
    result = client.predict(gradio_client.handle_file(str(photo)), "toon", api_name="/stylize_image")
    stylized = cv2.imread(result if isinstance(result, str) else result["path"])
    assert stylized.shape == original.shape
    assert np.abs(stylized.astype(int) - original.astype(int)).mean() > 5
