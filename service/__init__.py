"""The prediction service: the Eve app, its hooks, auth, validation and model registry."""
