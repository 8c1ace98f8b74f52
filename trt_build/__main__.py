"""`python -m trt_build` from a checkout: the same as `streamer-trt-build` (`python -m streamer.trt_build`).

Not installed: the engine builder ships as `streamer.trt_build`.
"""

import sys

from streamer.trt_build.__main__ import main

sys.exit(main())
