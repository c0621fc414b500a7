"""Streams by id: one request's events, the broker, the replay budget, wake-ups."""
