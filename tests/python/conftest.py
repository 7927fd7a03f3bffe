"""Fixtures for the redis-py tests: a real server on a free loopback port.

The binary is ``PUBSUBD_TEST_BIN`` when set (point it at Debian's
``redis-server`` to check the expectations against Redis 7), else the
``target/debug/pubsubd`` that ``cargo build`` leaves in the repository.
Each server is killed when its test ends.
"""

import os
import pathlib
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# How long a server may take to accept connections.
START_TIMEOUT = 10.0


def server_bin():
    """The server binary under test."""
    return os.environ.get("PUBSUBD_TEST_BIN") or str(
        REPO / "target" / "debug" / "pubsubd"
    )


def is_reference():
    """True when the tests run against Redis itself."""
    return "redis" in os.path.basename(server_bin())


def free_port():
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running server process."""

    def __init__(self, proc, port, password, log_path):
        self.proc = proc
        self.host = "127.0.0.1"
        self.port = port
        self.password = password
        self.log_path = log_path

    def log(self):
        """What the server wrote to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def _wait_ready(proc, port):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


@pytest.fixture
def start_server(tmp_path):
    """Factory: ``start_server("--requirepass", "pw")`` starts a server with
    extra redis-server-style flags and returns a ``Server``."""
    binary = server_bin()
    if not os.path.exists(binary):
        pytest.fail(
            f"server binary {binary} not found: run `cargo build` or set "
            "PUBSUBD_TEST_BIN"
        )
    started = []

    def start(*args):
        password = None
        if "--requirepass" in args:
            password = args[args.index("--requirepass") + 1]
        for attempt in range(5):
            port = free_port()
            cmd = [binary, "--port", str(port), "--bind", "127.0.0.1"]
            if is_reference():
                cmd += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
            cmd += list(args)
            log_path = tmp_path / f"server-{len(started)}-{attempt}.log"
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                )
            server = Server(proc, port, password, log_path)
            if _wait_ready(proc, port):
                started.append(server)
                return server
            server.stop()  # lost the port race, or failed: try another port
        pytest.fail(f"server did not start: {cmd}\n{server.log()}")

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server):
    """A server with default settings."""
    return start_server()
