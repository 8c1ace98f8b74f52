"""Frame sources: recorded files (PyAV), still images, and synthetic clips with known motion."""
