"""Where the CLI looks for the servers: the environment first, then what `make run` wrote."""
from cli import endpoints


def test_the_default_stack_file_is_data_in_the_checkout(monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)
    assert endpoints.stack_file() == endpoints.ROOT / "data" / "stack.json"


def test_the_stack_file_is_read_and_the_environment_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name in ("MONGO_URI", "PREDICTION_API_URL"):
        monkeypatch.delenv(name, raising=False)
    endpoints.write_stack_file(tmp_path, "mongodb://127.0.0.1:1234/p", "redis://x", "http://h:9")
    assert endpoints.mongo_uri() == "mongodb://127.0.0.1:1234/p"
    assert endpoints.api_url() == "http://h:9"
    monkeypatch.setenv("MONGO_URI", "mongodb://elsewhere/p")
    monkeypatch.setenv("PREDICTION_API_URL", "http://elsewhere")
    assert endpoints.mongo_uri() == "mongodb://elsewhere/p"
    assert endpoints.api_url() == "http://elsewhere"
    endpoints.remove_stack_file(tmp_path)
    monkeypatch.delenv("MONGO_URI")
    assert endpoints.mongo_uri() == endpoints.settings.MONGO_URI
