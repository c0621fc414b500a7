"""The test suite. A package, so its helpers are imported as ``tests.support.*``."""
