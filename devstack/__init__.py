"""Starts and supervises the local stack (database, Redis, API, workers) for `make run`
and the end-to-end tests."""
