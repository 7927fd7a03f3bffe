"""redis-py with ACL user names: a user limited to ``&app1:*`` publishes and
subscribes inside its channels and gets NOPERM elsewhere, over RESP2 (AUTH
user pass) and RESP3 (HELLO 3 AUTH user pass). Checked against
redis-server 7.0.15 (``PUBSUBD_TEST_BIN=$(which redis-server)``).
"""

import time

import pytest
import redis
import redis.retry
from redis.backoff import NoBackoff

# How long a test waits for a message before failing.
WAIT = 5.0

RULES = ["on", ">app1-pw", "resetchannels", "&app1:*", "-@all", "+@pubsub", "+ping"]


def client(srv, **kw):
    """A sync client without retries, as in test_redis_py.py."""
    kw.setdefault("retry", redis.retry.Retry(NoBackoff(), 0))
    return redis.Redis(host=srv.host, port=srv.port, socket_timeout=WAIT, **kw)


def next_message(pubsub):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if msg is not None:
            return msg
    pytest.fail("no message arrived")


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_user_limited_to_app1_channels(server, protocol):
    admin = client(server)
    assert admin.execute_command("ACL", "SETUSER", "app1", *RULES) in (b"OK", True)
    app = client(server, username="app1", password="app1-pw", protocol=protocol)
    assert app.ping() is True
    assert app.publish("app1:news", "hi") == 0
    with pytest.raises(redis.exceptions.NoPermissionError) as e:
        app.publish("app2:news", "hi")
    assert "no permissions to access one of the channels" in str(e.value)
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.get("key")

    sub = client(server, username="app1", password="app1-pw", protocol=protocol)
    p = sub.pubsub()
    p.subscribe("app1:news")
    assert next_message_or_confirm(p) == "subscribe"
    assert app.publish("app1:news", "hello") == 1
    msg = next_message(p)
    assert msg["channel"] == b"app1:news" and msg["data"] == b"hello"
    p.close()

    # Subscribing outside the patterns is refused, and so is a PSUBSCRIBE
    # pattern that is not literally one of them.
    p2 = client(server, username="app1", password="app1-pw", protocol=protocol).pubsub()
    for subscribe, arg in [(p2.subscribe, "app2:news"), (p2.psubscribe, "app1:n*")]:
        with pytest.raises(redis.exceptions.NoPermissionError):
            subscribe(arg)
            p2.get_message(timeout=WAIT)
    p2.close()

    with pytest.raises(redis.exceptions.AuthenticationError):
        client(server, username="app1", password="wrong", protocol=protocol).ping()


def next_message_or_confirm(p):
    """The type of the first message (the subscribe confirmation)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        msg = p.get_message(timeout=0.1)
        if msg is not None:
            return msg["type"]
    pytest.fail("no confirmation arrived")
