"""What the HTTP service (service/) and the workers (jobs/) both need, and nothing else:
connections, the queues and the job's meta, the prediction document and its statuses,
the batch's rows and counters, model artifacts, JSON logs, the finished-ids channel.
Neither side imports the other (the import contract in pyproject.toml)."""
