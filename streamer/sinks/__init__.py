"""Outputs: video files (PyAV, with the input's audio) and still images."""
