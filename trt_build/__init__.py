"""Offline TensorRT engine builds for streamer styles (see `python -m trt_build --help`)."""
