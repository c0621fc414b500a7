"""Export a served model to an Inferless model directory.

``jupyter inferless export NOTEBOOK OUTDIR`` and ``%inferless export NAME OUTDIR`` write
app.py (the model's class and what it needs from the notebook, transitively),
input_schema.py, inferless-runtime-config.yaml (the imported packages, pinned) and a
README.md. What export cannot carry (variables made interactively, definitions from cells
that also do other work, local files, names defined by no cell, symbolic links, likely
secrets) is refused with an :class:`ExportError` naming it.

Reading a notebook never runs it: values come from literals (``static``); only
``--execute`` (``execute``) runs the notebook, in a fresh kernel, and only when asked.

One job per module: ``cells`` (notebook or history → Python), ``statements`` (what each
top-level statement is) and ``symbols`` (what it binds, reads and changes), ``serving``
(which models a notebook serves), ``analysis`` (which class or directory a served model
is), ``closure`` (what the model needs, and the refusals), ``static`` and ``expressions``
(values read without running), ``credentials`` (likely secrets), ``quoting`` (names and
escaped text), ``packages`` (pins), ``appfile`` (app.py), ``directory`` (a served model
directory; INPUT_SCHEMA as written), ``writer`` (the files), ``plan`` (all of it, for a
notebook or a kernel), ``execute`` (``--execute``).
"""

from __future__ import annotations

from .errors import ExportError
from .execute import export_executed
from .plan import Exported, LiveModel, export_notebook, export_served

__all__ = [
    "ExportError",
    "Exported",
    "LiveModel",
    "export_executed",
    "export_notebook",
    "export_served",
]
