"""A revoked token, under gunicorn's API processes (each remembers the accounts it looked
up for up to a second, service/auth.py): refused by all of them within a second of the
DELETE's answer."""
import time

import pytest
import requests

from service.auth import PROCESS_ACCOUNT_SECONDS

pytestmark = pytest.mark.alone  # a revoked token refused within a second


def fresh_get(url, token):
    """On a connection of its own, so that gunicorn hands it to either process."""
    with requests.Session() as session:
        return session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_revoked_token_is_refused_by_every_api_process_within_a_second(stack, admin):
    minted = admin.post("/tokens", json={"name": "revoked-soon", "role": "client"})
    assert minted.status_code == 201, minted.text
    token, token_id = minted.json()["token"], minted.json()["_id"]
    url = f"{stack.url}/api/v1/predictions"
    # used on 40 connections: both processes have it remembered
    assert {fresh_get(url, token).status_code for _ in range(40)} == {200}
    deleted = admin.delete(f"/tokens/{token_id}", headers={"If-Match": "*"})
    assert deleted.status_code == 204, deleted.text
    revoked_at = time.monotonic()
    time.sleep(max(0.0, PROCESS_ACCOUNT_SECONDS + 0.05 - (time.monotonic() - revoked_at)))
    assert {fresh_get(url, token).status_code for _ in range(40)} == {401}
