"""HTTP edge: handlers, the base handler (auth, bodies, errors as JSON), SSE writing."""
