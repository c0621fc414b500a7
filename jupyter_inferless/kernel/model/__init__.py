"""The user's model inside the kernel: adapter, stream handler, outputs, model directories.

Only the kernel imports this: the model directory loader imports the user's files and
puts their folder on ``sys.path`` while it does, which the server process must never do.
"""

from .adapter import ModelAdapter
from .handler import EventSink, StreamOutputHandler
from .model_dir import ModelDirectory, RuntimeConfigWarning, load_model_directory
from .outputs import OutputChecker
from .resolve import Resolved, default_name, resolve

__all__ = [
    "EventSink",
    "ModelAdapter",
    "ModelDirectory",
    "OutputChecker",
    "Resolved",
    "RuntimeConfigWarning",
    "StreamOutputHandler",
    "default_name",
    "load_model_directory",
    "resolve",
]
