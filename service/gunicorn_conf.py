"""gunicorn settings for the API (`run.py` passes -c python:service.gunicorn_conf)."""
# no 414 for long `where` filters: the app bounds the query string (service/query.py)
limit_request_line = 0
accesslog = None  # the app logs each request itself, as JSON with its request id


def post_worker_init(worker):
    from core import logs
    logs.configure("api")
