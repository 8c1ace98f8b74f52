"""Cartoonization engines: the Engine contract, the style registry, model graphs and backends."""

from streamer.engines.base import DCTNET_LAYOUT, HeadLayout, StyleEngine
from streamer.engines.options import EngineOptions
from streamer.engines.registry import CATALOG, DEFAULT_STYLE, available_styles, open_engine, style_names

__all__ = [
    "CATALOG",
    "DCTNET_LAYOUT",
    "DEFAULT_STYLE",
    "EngineOptions",
    "HeadLayout",
    "StyleEngine",
    "available_styles",
    "open_engine",
    "style_names",
]
