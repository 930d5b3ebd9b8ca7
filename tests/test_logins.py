"""Logins: throttled per account and per address (429 + Retry-After, growing delays) on the
web form and HTTP Basic; unknown logins cost a password hash; sessions end at logout and
password change; Secure cookie and HSTS over HTTPS, behind a proxy too."""
from __future__ import annotations

import base64

import pytest

from arsflow import web
from arsflow.engine.people import users
from arsflow.web.throttle import Throttle

PASSWORD = "motdepasse-long-42"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def app(runtime, make_user):
    make_user("alice", "staff", password=PASSWORD)
    make_user("bruno", "staff", "deployers", password=PASSWORD)
    return web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "test"})


@pytest.fixture
def tclock(app):
    fake = FakeClock()
    app.extensions["arsflow_throttle"] = Throttle(free=3, base=2, maximum=60, clock=fake)
    return fake


def _csrf(client):
    client.get("/connexion")
    with client.session_transaction() as sess:
        return sess["csrf_token"]


def web_login(client, login, password, addr="10.0.0.1"):
    return client.post("/connexion", data={"login": login, "password": password, "csrf_token": _csrf(client)},
                       environ_base={"REMOTE_ADDR": addr})


def basic_get(client, login, password, addr="10.0.0.1"):
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return client.get("/engine-rest/deployment?maxResults=0", headers={"Authorization": f"Basic {token}"},
                      environ_base={"REMOTE_ADDR": addr})


def test_web_login_throttled_per_account_with_growing_delays(app, tclock):
    client = app.test_client()
    statuses = [web_login(client, "alice", "faux-mot-de-passe", addr=f"10.0.0.{i}").status_code for i in range(3)]
    assert statuses == [401, 401, 401]  # the free tries, from three addresses
    waits = []
    for i in range(3):
        response = web_login(client, "alice", "faux-mot-de-passe", addr=f"10.0.1.{i}")
        if response.status_code == 401:  # the 4th failure sets the first delay
            response = web_login(client, "alice", PASSWORD, addr=f"10.0.1.{i}")
        assert response.status_code == 429 and "Trop de tentatives" in response.text
        waits.append(int(response.headers["Retry-After"]))
        tclock.now += waits[-1]  # wait it out, then fail again
    assert waits == sorted(waits) and waits[-1] > waits[0]
    # Locked: even the right password is not checked until the delay has passed.
    web_login(client, "alice", "encore-faux", addr="10.0.9.9")
    assert web_login(client, "alice", PASSWORD, addr="10.0.9.9").status_code == 429
    tclock.now += 120
    assert web_login(client, "alice", PASSWORD, addr="10.0.9.9").status_code == 302
    # Success clears the account's counter.
    assert web_login(app.test_client(), "alice", "faux", addr="10.0.5.5").status_code == 401


def test_throttled_per_address_across_accounts(app, tclock):
    client = app.test_client()
    for i in range(4):
        web_login(client, f"inconnu{i}", "faux-mot-de-passe", addr="192.0.2.7")
    assert web_login(client, "bruno", PASSWORD, addr="192.0.2.7").status_code == 429
    assert web_login(client, "bruno", PASSWORD, addr="192.0.2.8").status_code == 302


def test_basic_auth_throttled_too(app, tclock):
    client = app.test_client()
    codes = [basic_get(client, "bruno", "faux").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 401]
    response = basic_get(client, "bruno", PASSWORD)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["type"] == "AuthenticationException"
    tclock.now += 10
    assert basic_get(client, "bruno", PASSWORD).status_code == 200


def test_unknown_login_hashes_a_dummy_password(runtime, make_user, monkeypatch):
    make_user("alice", "staff", password=PASSWORD)
    calls = []
    original = users.check_password
    monkeypatch.setattr(users, "check_password", lambda stored, pw: calls.append(stored) or original(stored, pw))
    with runtime.db.read() as s:
        assert users.authenticate(s, "personne", "un-mot-de-passe") is None
        assert users.authenticate(s, "alice", "un-mot-de-passe") is None
    assert len(calls) == 2 and all(c.startswith("scrypt$") for c in calls)


def test_session_cookie_dies_at_logout(app, tclock):
    client = app.test_client()
    assert web_login(client, "alice", PASSWORD).status_code == 302
    cookie = client.get_cookie("arsflow_session").value
    assert client.get("/taches").status_code == 200
    client.post("/deconnexion", data={"csrf_token": _csrf_logged(client)})
    replay = app.test_client()
    replay.set_cookie("arsflow_session", cookie)
    response = replay.get("/taches")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_password_change_ends_sessions(app, tclock, runtime):
    client = app.test_client()
    assert web_login(client, "alice", PASSWORD).status_code == 302
    assert client.get("/taches").status_code == 200
    with runtime.db.transaction() as s:
        users.add_user(s, "alice", password="nouveau-mot-de-passe")
    assert client.get("/taches").status_code == 302
    assert web_login(client, "alice", "nouveau-mot-de-passe").status_code == 302
    assert client.get("/taches").status_code == 200


def _csrf_logged(client):
    with client.session_transaction() as sess:
        return sess["csrf_token"]


def test_secure_cookie_and_hsts_over_https(app, tclock):
    client = app.test_client()
    plain = web_login(client, "alice", PASSWORD)
    assert "Secure" not in plain.headers["Set-Cookie"] and "Strict-Transport-Security" not in plain.headers
    secure = app.test_client()
    secure.get("/connexion", base_url="https://localhost")
    with secure.session_transaction() as sess:
        token = sess["csrf_token"]
    response = secure.post("/connexion", base_url="https://localhost",
                           data={"login": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("proxy_fix, secure", [(1, True), (0, False)])
def test_behind_a_proxy_only_when_configured(runtime, make_user, proxy_fix, secure):
    make_user("alice", "staff", password=PASSWORD)
    app = web.create_app(runtime, config={"TESTING": True, "SECRET_KEY": "t", "ARSFLOW_PROXY_FIX": proxy_fix})
    response = app.test_client().get("/connexion", headers={"X-Forwarded-Proto": "https"})
    assert ("Strict-Transport-Security" in response.headers) is secure
    assert ("Secure" in response.headers.get("Set-Cookie", "")) is secure
