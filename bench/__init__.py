"""The benchmarks: `make bench` and its siblings (docs/benchmarks.md)."""

# a benchmark measures the pipeline, not the per-token rate limiter: its stacks lift it
NO_RATE_LIMIT = {"RATE_LIMIT_REQUESTS": "100000000"}
