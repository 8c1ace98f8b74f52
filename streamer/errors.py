"""The few errors streamer raises on purpose.

Each also subclasses the builtin a caller would expect (as PyAV's errors do), so generic code can
catch `ValueError` or `OSError`. The message is one sentence meant for the user; the CLI prints it
without a traceback.
"""


class StreamerError(Exception):
    """Base of every error that is the user's input or environment, not a bug."""


class InvalidInputError(StreamerError, ValueError):
    """The input (a path, a file's content, an option) cannot be used."""


class OutputError(StreamerError, OSError):
    """The output cannot be written (bad extension, unwritable folder, disk full)."""


class ModelError(StreamerError, ValueError):
    """A model file is missing, corrupt, or has the wrong architecture."""


class DeviceUnavailableError(StreamerError, OSError):
    """A camera, GPU, virtual camera or network peer is not there."""


def unsupported_protocol(url: str) -> str:
    """The sentence for a URL whose protocol the installed FFmpeg (inside PyAV) was built without."""
    scheme = url.split("://", 1)[0]
    return (
        f"{scheme}:// is not supported by the installed PyAV: its FFmpeg was built without it "
        "(PyPI's wheels have no SRT); use rtmp:// or a PyAV built against an FFmpeg that has it"
    )
