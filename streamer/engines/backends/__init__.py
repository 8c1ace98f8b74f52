"""Inference backends. Each module imports its library only when a runner is created."""
