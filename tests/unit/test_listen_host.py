"""What `make run` starts for LISTEN_HOST (devstack/): on loopback, servers without
passwords as before; anywhere else, Redis with a password in a file of mode 0600, the
database with a user, the URIs carrying both, the same credentials on every run. (The
servers' answers without them: tests/e2e/test_scale_out.py.)"""
import os

import pytest

from devstack import credentials
from devstack.stack import Stack


def mode(path):
    return os.stat(path).st_mode & 0o777


@pytest.mark.parametrize("host,needed", [("127.0.0.1", False), ("localhost", False),
                                         ("::1", False), ("127.0.0.2", False),
                                         ("10.0.0.5", True), ("0.0.0.0", True),
                                         ("db.example", True)])
def test_credentials_everywhere_but_loopback(host, needed):
    assert credentials.needed(host) is needed


def test_on_loopback_the_servers_take_no_password(tmp_path):
    stack = Stack(tmp_path, port=5999, listen_host="127.0.0.1")
    assert "@" not in stack.mongo_uri + stack.redis_url
    assert "--test-enable-new-auth" not in stack.database.argv
    assert not (tmp_path / credentials.FILE).exists()
    assert stack.api.env["LISTEN_HOST"] == "127.0.0.1"


def test_off_loopback_redis_and_the_database_take_credentials_kept_in_data_dir(tmp_path):
    stack = Stack(tmp_path, port=5999, listen_host="10.0.0.5", workers=0)
    secret = credentials.load_or_create(tmp_path)
    assert mode(tmp_path / credentials.FILE) == 0o600
    assert stack.redis_url.startswith(f"redis://:{secret['redis_password']}@10.0.0.5:")
    assert stack.mongo_uri.startswith(
        f"mongodb://predictions:{secret['mongo_password']}@10.0.0.5:")
    assert stack.mongo_uri.endswith("/predictions?authSource=admin")
    config = stack.redis.argv[1]
    assert mode(config) == 0o600
    assert open(config).read() == f"requirepass {secret['redis_password']}\n"
    assert secret["redis_password"] not in " ".join(stack.redis.argv)  # not in `ps`
    assert stack.redis.argv[stack.redis.argv.index("--bind") + 1] == "10.0.0.5"
    if stack.database.name == "ferretdb":
        assert "--listen-addr=10.0.0.5:" + str(stack.database.port) in stack.database.argv
        assert "--setup-username=predictions" in stack.database.argv
        assert stack.database.env["FERRETDB_SETUP_PASSWORD"] == secret["mongo_password"]
        assert secret["mongo_password"] not in " ".join(stack.database.argv)
    # the next run: the same credentials (the database keeps its user)
    again = Stack(tmp_path, port=5999, listen_host="10.0.0.5", workers=0)
    assert again.redis_url.split("@")[0] == stack.redis_url.split("@")[0]
    assert again.mongo_uri.split("@")[0] == stack.mongo_uri.split("@")[0]
