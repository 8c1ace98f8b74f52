"""Face tracking: detection and landmarks (MediaPipe), smoothing, alignment, stable face IDs."""
