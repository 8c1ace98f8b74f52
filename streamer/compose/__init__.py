"""Compositing: aligned head crops out of a frame, stylized heads back in, background resizing."""

from streamer.compose.background import background_size, resize_to
from streamer.compose.heads import crop_heads, paste_head

__all__ = ["background_size", "crop_heads", "paste_head", "resize_to"]
