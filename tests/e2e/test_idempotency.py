"""Idempotency-Key on the real stack: the API's processes (gunicorn, 2) racing the same
key store one request's rows; the CLI's `submit` run again finds the same batch."""
from concurrent.futures import ThreadPoolExecutor

from .test_cli import cli

IRIS = [5.1, 3.5, 1.4, 0.2]


def test_concurrent_requests_with_one_key_store_once(new_client):
    client = new_client()
    body = [{"model": "iris", "features": IRIS}] * 50

    def post(_):
        return client.post("/inputs", json=body, headers={"Idempotency-Key": "race-1"})
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    created = [a for a in answers if a.status_code == 201]
    first = [a for a in created if "Idempotent-Replayed" not in a.headers]
    assert len(first) == 1, [a.status_code for a in answers]
    assert {a.status_code for a in answers} <= {201, 409}
    assert all(a.json() == first[0].json() for a in created)
    stored = client.get("/inputs", params={"max_results": 1}).json()["_meta"]["total"]
    assert stored == 50


def test_submit_run_again_finds_the_same_batch(stack, tmp_path):
    token = stack.create_token("client", "resubmit")
    path = tmp_path / "rows.csv"
    path.write_text("sepal_length,sepal_width,petal_length,petal_width\n"
                    + "5.1,3.5,1.4,0.2\n" * 20)
    first = cli(stack, token, "submit", str(path), "--model", "iris").stdout.split()[0]
    again = cli(stack, token, "submit", str(path), "--model", "iris").stdout.split()[0]
    assert first == again
    path.write_text(path.read_text() + "6.7,3.0,5.2,2.3\n")  # another file: a new batch
    assert cli(stack, token, "submit", str(path), "--model", "iris").stdout.split()[0] != first
