"""Packages for setuptools; everything else is in pyproject.toml.

The browser page lives in the top-level `web/` folder and is installed as the data of the package
`streamer.webpage`, where `streamer serve` finds it with importlib.resources. pyproject.toml alone
cannot map a folder outside `streamer/` into the package while also discovering the subpackages,
hence this file. The top-level `trt_build/` (a shim for `python -m trt_build` in a checkout) is not
installed: the builder ships as `streamer.trt_build`.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["streamer", "streamer.*"]), "streamer.webpage"],
    package_dir={"streamer.webpage": "web"},
    package_data={
        "streamer.webpage": ["index.html", "app.js", "chart.js", "style.css"],
        "streamer.samples": ["*.jpg", "README.md"],
    },
)
