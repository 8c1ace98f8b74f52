"""The browser side: `streamer serve` (WebRTC, aiohttp + aiortc, and its page) and `streamer demo`
(Gradio). Kept inside the package (rather than a top-level `web/`) so an install carries the page."""
