"""The browser side: `streamer serve` (WebRTC, aiohttp + aiortc) and `streamer demo` (Gradio). The
page that `serve` sends lives in the top-level `web/` folder and is installed as `streamer.webpage`."""
