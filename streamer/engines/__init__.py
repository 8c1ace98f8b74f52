"""Cartoonization engines: the Engine contract, the style registry, model graphs and backends."""

from streamer.engines.base import DCTNET_LAYOUT, HeadLayout, StyleEngine
from streamer.engines.registry import CATALOG, DEFAULT_STYLE, open_engine, style_names

__all__ = ["CATALOG", "DCTNET_LAYOUT", "DEFAULT_STYLE", "HeadLayout", "StyleEngine", "open_engine", "style_names"]
