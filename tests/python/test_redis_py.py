"""redis-py against the server: pub/sub as Python services use it.

Sync and asyncio clients, channels and patterns, RESP2 and RESP3 (redis-py 8
speaks RESP3 unless told otherwise, so every test that can pins the protocol
and runs in both), binary payloads, ``password=`` and ``db=``. Every
expectation was first checked against redis-server 7.0.15
(``PUBSUBD_TEST_BIN=$(which redis-server)``).
"""

import asyncio
import os
import time

import pytest
import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import NoBackoff

# How long a test waits for a message before failing.
WAIT = 5.0

PROTOCOLS = pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])


def client(srv, **kw):
    """A sync client for ``srv``. No retries: a failure shows at once and
    a server that drops connections cannot hide behind a reconnect."""
    kw.setdefault("password", srv.password)
    kw.setdefault("retry", redis.retry.Retry(NoBackoff(), 0))
    return redis.Redis(host=srv.host, port=srv.port, socket_timeout=WAIT, **kw)


def aclient(srv, **kw):
    """An asyncio client for ``srv``, without retries like ``client``."""
    kw.setdefault("password", srv.password)
    kw.setdefault("retry", redis.asyncio.retry.Retry(NoBackoff(), 0))
    return redis.asyncio.Redis(
        host=srv.host, port=srv.port, socket_timeout=WAIT, **kw
    )


def next_message(pubsub, ignore_subscribe_messages=False):
    """The next pub/sub message (confirmations included unless ignored)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        msg = pubsub.get_message(
            ignore_subscribe_messages=ignore_subscribe_messages, timeout=0.2
        )
        if msg is not None:
            return msg
    raise AssertionError("no pub/sub message within %.1fs" % WAIT)


async def anext_message(pubsub, ignore_subscribe_messages=False):
    """``next_message`` for asyncio pub/sub."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        msg = await pubsub.get_message(
            ignore_subscribe_messages=ignore_subscribe_messages, timeout=0.2
        )
        if msg is not None:
            return msg
    raise AssertionError("no pub/sub message within %.1fs" % WAIT)


def confirm(kind, channel, count):
    """A (p)(un)subscribe confirmation as redis-py returns it."""
    return {"type": kind, "pattern": None, "channel": channel, "data": count}


def message(channel, data, pattern=None):
    """A delivered message as redis-py returns it."""
    kind = "message" if pattern is None else "pmessage"
    return {"type": kind, "pattern": pattern, "channel": channel, "data": data}


@PROTOCOLS
def test_sync_subscribe_publish_unsubscribe(server, protocol):
    sub = client(server, protocol=protocol)
    pub = client(server, protocol=protocol)
    p = sub.pubsub()
    p.subscribe("news", "alerts")
    assert next_message(p) == confirm("subscribe", b"news", 1)
    assert next_message(p) == confirm("subscribe", b"alerts", 2)

    assert pub.publish("news", "hello") == 1
    assert next_message(p) == message(b"news", b"hello")
    assert pub.publish("alerts", "fire") == 1
    assert next_message(p) == message(b"alerts", b"fire")
    assert pub.pubsub_numsub("news", "alerts", "nobody") == [
        (b"news", 1),
        (b"alerts", 1),
        (b"nobody", 0),
    ]
    assert sorted(pub.pubsub_channels()) == [b"alerts", b"news"]

    # a second subscriber: PUBLISH counts both
    p2 = client(server, protocol=protocol).pubsub()
    p2.subscribe("news")
    assert next_message(p2) == confirm("subscribe", b"news", 1)
    assert pub.publish("news", "both") == 2
    assert next_message(p) == message(b"news", b"both")
    assert next_message(p2) == message(b"news", b"both")

    p.unsubscribe("news")
    assert next_message(p) == confirm("unsubscribe", b"news", 1)
    assert pub.publish("news", "one left") == 1
    assert next_message(p2) == message(b"news", b"one left")
    p.unsubscribe()
    assert next_message(p) == confirm("unsubscribe", b"alerts", 0)
    assert pub.publish("alerts", "nobody") == 0
    assert p.get_message(timeout=0.2) is None
    for c in (p, p2):
        c.close()


@PROTOCOLS
def test_sync_pattern_subscribe(server, protocol):
    sub = client(server, protocol=protocol)
    pub = client(server, protocol=protocol)
    p = sub.pubsub()
    p.psubscribe("news.*", "user:[ab]?")
    assert next_message(p) == confirm("psubscribe", b"news.*", 1)
    assert next_message(p) == confirm("psubscribe", b"user:[ab]?", 2)
    p.subscribe("news.tech")
    assert next_message(p) == confirm("subscribe", b"news.tech", 3)
    assert pub.pubsub_numpat() == 2

    # one exact and one pattern receiver on the same connection: two frames,
    # the channel's first
    assert pub.publish("news.tech", "rust 2024") == 2
    assert next_message(p) == message(b"news.tech", b"rust 2024")
    assert next_message(p) == message(b"news.tech", b"rust 2024", b"news.*")
    assert pub.publish("user:a1", "x") == 1
    assert next_message(p) == message(b"user:a1", b"x", b"user:[ab]?")
    assert pub.publish("user:c1", "x") == 0
    assert pub.publish("news", "x") == 0

    p.punsubscribe("news.*")
    assert next_message(p) == confirm("punsubscribe", b"news.*", 2)
    assert pub.publish("news.tech", "again") == 1
    assert next_message(p) == message(b"news.tech", b"again")
    p.close()


@PROTOCOLS
def test_binary_payloads_and_channels_byte_exact(server, protocol):
    sub = client(server, protocol=protocol)
    pub = client(server, protocol=protocol)
    p = sub.pubsub()
    channel = b"bin\x00\xff\r\n:ch"
    p.subscribe(channel)
    p.psubscribe(b"bin\x00\xff*")
    p.get_message(timeout=WAIT)
    p.get_message(timeout=WAIT)
    payloads = [
        bytes(range(256)),
        b"\r\n",
        b"\x00",
        b"",
        b"$-1\r\n*3\r\n",
        os.urandom(1 << 20),
    ]
    for payload in payloads:
        assert pub.publish(channel, payload) == 2
        assert next_message(p) == message(channel, payload)
        assert next_message(p) == message(channel, payload, b"bin\x00\xff*")
    p.close()


@PROTOCOLS
def test_health_check_ping_while_subscribed(server, protocol):
    # redis-py's pubsub health check PINGs the subscribed connection and
    # swallows the reply only if it is the subscribed-mode pong
    sub = client(server, protocol=protocol, health_check_interval=1)
    pub = client(server, protocol=protocol)
    p = sub.pubsub()
    p.subscribe("ticks")
    assert next_message(p) == confirm("subscribe", b"ticks", 1)
    time.sleep(1.2)
    assert p.get_message(timeout=0.5) is None  # the health check's pong
    assert pub.publish("ticks", "1") == 1
    assert next_message(p) == message(b"ticks", b"1")
    p.close()


@PROTOCOLS
def test_asyncio_pubsub(server, protocol):
    async def main():
        sub = aclient(server, protocol=protocol)
        pub = aclient(server, protocol=protocol)
        p = sub.pubsub()
        await p.subscribe("jobs")
        assert await anext_message(p) == confirm("subscribe", b"jobs", 1)
        await p.psubscribe("jobs.*")
        assert await anext_message(p) == confirm("psubscribe", b"jobs.*", 2)

        assert await pub.publish("jobs", b"\x00\xff\r\n") == 1
        assert await anext_message(p) == message(b"jobs", b"\x00\xff\r\n")

        # many concurrent publishers; every message arrives, each once
        sent = [b"job-%d\x00" % i for i in range(50)]
        counts = await asyncio.gather(*(pub.publish("jobs.bulk", m) for m in sent))
        assert counts == [1] * len(sent)

        async def collect():
            got = []
            async for msg in p.listen():
                if msg["type"] == "pmessage":
                    got.append(msg)
                    if len(got) == len(sent):
                        return got

        got = await asyncio.wait_for(collect(), WAIT)
        assert all(m["pattern"] == b"jobs.*" for m in got)
        assert all(m["channel"] == b"jobs.bulk" for m in got)
        assert sorted(m["data"] for m in got) == sorted(sent)

        await p.unsubscribe("jobs")
        assert await anext_message(p) == confirm("unsubscribe", b"jobs", 1)
        await p.aclose()
        await sub.aclose()
        await pub.aclose()

    asyncio.run(main())


def test_resp3_pubsub(server):
    sub = client(server, protocol=3)
    pub = client(server, protocol=2)
    p = sub.pubsub()
    p.subscribe("resp3")
    assert next_message(p) == confirm("subscribe", b"resp3", 1)
    hello = p.connection.handshake_metadata
    assert hello[b"proto"] == 3
    assert hello[b"mode"] == b"standalone"
    assert hello[b"role"] == b"master"
    assert hello[b"version"].startswith(b"7.")
    # a RESP2 publisher reaches a RESP3 subscriber and vice versa
    assert pub.publish("resp3", b"\xff\x00push") == 1
    assert next_message(p) == message(b"resp3", b"\xff\x00push")
    p2 = pub.pubsub()
    p2.subscribe("resp2")
    assert next_message(p2) == confirm("subscribe", b"resp2", 1)
    assert sub.publish("resp2", "from resp3") == 1
    assert next_message(p2) == message(b"resp2", b"from resp3")
    p.close()
    p2.close()


def test_resp3_asyncio_pubsub(server):
    async def main():
        sub = aclient(server, protocol=3)
        p = sub.pubsub()
        await p.subscribe("a3")
        assert await anext_message(p) == confirm("subscribe", b"a3", 1)
        async with aclient(server, protocol=3) as pub:
            assert await pub.publish("a3", b"\r\n\x00") == 1
        assert await anext_message(p) == message(b"a3", b"\r\n\x00")
        await p.aclose()
        await sub.aclose()

    asyncio.run(main())


@PROTOCOLS
def test_password(start_server, protocol):
    srv = start_server("--requirepass", "s3cret pw")
    sub = client(srv, protocol=protocol)
    pub = client(srv, protocol=protocol, username="default")
    p = sub.pubsub()
    p.subscribe("secure")
    assert next_message(p) == confirm("subscribe", b"secure", 1)
    assert pub.publish("secure", "ok") == 1
    assert next_message(p) == message(b"secure", b"ok")
    p.close()

    with pytest.raises(redis.AuthenticationError):
        client(srv, protocol=protocol, password="wrong").ping()
    with pytest.raises(redis.AuthenticationError):
        client(srv, protocol=protocol, password=None).publish("secure", "x")
    url = f"redis://:s3cret%20pw@127.0.0.1:{srv.port}/0?protocol={protocol}"
    assert redis.Redis.from_url(url, retry=None).publish("secure", "url") == 0

    async def main():
        async with aclient(srv, protocol=protocol) as c:
            assert await c.publish("secure", "async") == 0
        with pytest.raises(redis.AuthenticationError):
            async with aclient(srv, protocol=protocol, password="wrong") as c:
                await c.ping()

    asyncio.run(main())


@PROTOCOLS
def test_db_option(server, protocol):
    # pub/sub ignores databases: a subscriber on db 5 hears db 0 publishers
    sub = client(server, protocol=protocol, db=5)
    p = sub.pubsub()
    p.subscribe("events")
    assert next_message(p) == confirm("subscribe", b"events", 1)
    for db in (0, 5, 15):
        assert client(server, protocol=protocol, db=db).publish("events", db) == 1
        assert next_message(p) == message(b"events", str(db).encode())
    info = sub.client_info()
    assert str(info["db"]) == "5"
    url = f"redis://127.0.0.1:{server.port}/3?protocol={protocol}"
    assert str(redis.Redis.from_url(url, retry=None).client_info()["db"]) == "3"
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        client(server, protocol=protocol, db=16).ping()
    p.close()
