"""streamer: turn people on camera into cartoons, live or from recorded videos.

`import streamer` pulls in NumPy only; PyAV, MediaPipe, ONNX Runtime and GPU libraries are imported
by the stage that needs them.
"""

import logging
import os

# NumPy's OpenBLAS threads busy-wait after each call; the pipeline runs its stages in parallel and
# does only tiny matrix maths, so a BLAS thread pool would just burn a core. This takes effect when
# streamer is imported before NumPy (the `streamer` command always is).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from streamer.errors import (
    DeviceUnavailableError,
    InvalidInputError,
    ModelError,
    StreamerError,
)
from streamer.frame import Frame

# Tracebacks of unexpected failures (an engine or a sink that raised mid-stream) are logged to the
# "streamer" logger; the user sees a status line. A library prints nothing unless the application
# configures a handler (the `streamer` command does, for warnings and errors).
logging.getLogger("streamer").addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "DeviceUnavailableError",
    "Frame",
    "InvalidInputError",
    "ModelError",
    "StreamerError",
    "__version__",
]
