"""The package's version, read from its installed metadata.

The one place the number is written is labextension/package.json: hatch reads it from
there (hatch-nodejs-version), so the Python package and the JupyterLab extension never
drift.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jupyter_inferless")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
