"""PyTorch definitions of the learned networks, faithful to the official checkpoints.

Importing a module here imports torch; the rest of streamer does not need it.
"""
