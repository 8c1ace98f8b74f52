"""Offline TensorRT engine builds for streamer styles (see `streamer-trt-build --help`)."""
