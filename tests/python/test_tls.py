"""redis-py over TLS (``rediss://``): commands and pub/sub, and a client
certificate required and refused. The certificates are made per test with
the openssl command line; no key is kept in the repository.
"""

import subprocess

import pytest
import redis

from conftest import free_port

# How long a test waits for a message before failing.
WAIT = 5.0


def openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt")
    return d / f"{name}.crt"


def issue(d, ca, name, server):
    ext = ("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
           if server else "extendedKeyUsage=clientAuth\n")
    (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n" + ext)
    openssl(d, "req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
    openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt",
            "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2",
            "-extfile", f"{name}.ext", "-out", f"{name}.crt")
    return str(d / f"{name}.crt"), str(d / f"{name}.key")


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    ca = make_ca(d, "ca")
    make_ca(d, "other")
    return {
        "ca": str(ca),
        "server": issue(d, "ca", "server", True),
        "client": issue(d, "ca", "client", False),
        "intruder": issue(d, "other", "intruder", False),
    }


def start_tls(start_server, pki, auth):
    tls_port = free_port()
    cert, key = pki["server"]
    srv = start_server("--tls-port", str(tls_port), "--tls-cert-file", cert,
                       "--tls-key-file", key, "--tls-ca-cert-file", pki["ca"],
                       "--tls-auth-clients", auth)
    return srv, tls_port


def test_rediss_url_commands_and_pubsub(start_server, pki):
    srv, tls_port = start_tls(start_server, pki, "no")
    url = f"rediss://127.0.0.1:{tls_port}/0"
    r = redis.Redis.from_url(url, ssl_ca_certs=pki["ca"], socket_timeout=WAIT)
    assert r.ping() is True
    p = r.pubsub()
    p.subscribe("news")
    assert p.get_message(timeout=WAIT)["type"] == "subscribe"
    plain = redis.Redis(host=srv.host, port=srv.port, socket_timeout=WAIT)
    payloads = [f"m{i}".encode() * 50 for i in range(300)]
    for payload in payloads:
        assert plain.publish("news", payload) == 1
    got = []
    while len(got) < len(payloads):
        m = p.get_message(timeout=WAIT)
        assert m is not None, f"only {len(got)} messages"
        got.append(m["data"])
    assert got == payloads
    p.close()
    r.close()


def test_client_certificate_required_and_refused(start_server, pki):
    _srv, tls_port = start_tls(start_server, pki, "yes")

    def client(identity):
        kw = {}
        if identity:
            kw = {"ssl_certfile": pki[identity][0], "ssl_keyfile": pki[identity][1]}
        return redis.Redis(host="127.0.0.1", port=tls_port, ssl=True,
                           ssl_ca_certs=pki["ca"], socket_timeout=WAIT, **kw)

    assert client("client").ping() is True
    for identity in (None, "intruder"):
        with pytest.raises(redis.exceptions.ConnectionError):
            client(identity).ping()
