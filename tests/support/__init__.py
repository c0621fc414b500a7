"""Helpers the tests and the benchmarks share: kernels, models, servers, SSE readers.

Always imported by their full name (``tests.support.kernels``), never by a bare module
name, so no helper can shadow an installed package. pytest puts the project's root on
``sys.path`` (``pythonpath`` in pyproject.toml); the benchmarks do the same.
"""
