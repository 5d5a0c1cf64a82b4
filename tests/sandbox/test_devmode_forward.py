"""PortForwards against a real dev pod: 127.0.0.1 only, concurrent connections, a replaced
pod, a closed remote port, and a local port already in use."""

import concurrent.futures
import socket
import urllib.request

import pytest

from devmode_helpers import WORK_DIR, DevTarget
from veladev.devmode import DevModeError, DevPod
from veladev.devmode.forward import PortForwards

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]

SERVER = ["sh", "-c", f"echo served > {WORK_DIR}/hello.txt && exec python3 -m http.server 8000 -d {WORK_DIR}"]


@pytest.fixture
def web_dev(sandbox, sandbox_ns):
    t = DevTarget(sandbox, sandbox_ns, command=SERVER)
    yield t
    t.close()


def get(port, path="/hello.txt", timeout=20):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read()


@pytest.mark.parametrize("use_tunnel", [True, False], ids=["spdy-tunnel", "websocket-per-connection"])
def test_forwards_concurrent_connections_on_loopback_and_follows_a_new_pod(sandbox, web_dev, use_tunnel):
    errors: list[str] = []
    fw = PortForwards(web_dev.api, web_dev.resolve, ["0:8000"], on_error=errors.append, use_tunnel=use_tunnel)
    fw.start()
    try:
        port = fw.local_port(8000)
        assert fw.addresses == [f"127.0.0.1:{port}->8000"]
        assert fw._listeners[0][0].getsockname()[0] == "127.0.0.1"
        sandbox.wait_for(lambda: get(port) == (200, b"served\n"), timeout=60, what="the server in the pod")
        assert fw.mode == ("tunnel" if use_tunnel else "websocket")
        # a connection held open (its request unfinished) does not block the others
        held = socket.create_connection(("127.0.0.1", port), timeout=20)
        held.sendall(b"GET /hello.txt HTTP/1.0\r\n")
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            results = list(ex.map(lambda i: get(port, f"/hello.txt?{i}"), range(24)))
        assert results == [(200, b"served\n")] * 24
        held.sendall(b"\r\n")
        data = b""
        while chunk := held.recv(65536):
            data += chunk
        held.close()
        assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"served\n")
        # every stream to the API server is cut: the next connections get through again

        def through():
            try:
                return get(port, timeout=10) == (200, b"served\n")
            except OSError:
                return False

        sandbox.drop_streams()
        sandbox.wait_for(through, timeout=60, what="GET after the streams were dropped")
        # the pod is replaced: the same local port reaches the new one
        old = web_dev.pod_name
        sandbox.delete_pod(web_dev.ns, old)
        sandbox.wait_for(lambda: web_dev.resolve(60).name != old, timeout=90, what="a new pod")

        def through_new_pod():
            return through() and fw._pod is not None and fw._pod.name != old

        sandbox.wait_for(through_new_pod, timeout=90, what="GET through the forward to the new pod")
        # and many connections at once there too
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            assert list(ex.map(lambda i: get(port, f"/hello.txt?{i}"), range(16))) == [(200, b"served\n")] * 16
    finally:
        fw.stop()
    # stopped: nothing listens any more
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_closed_remote_port_is_reported_and_the_connection_ends(sandbox, web_dev):
    errors: list[str] = []
    fw = PortForwards(web_dev.api, web_dev.resolve, ["0:8001"], on_error=errors.append)
    fw.start()
    try:
        s = socket.create_connection(("127.0.0.1", fw.local_port(8001)), timeout=20)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert s.recv(100) == b""
        s.close()
        sandbox.wait_for(lambda: errors, timeout=20, what="an error report")
        assert "error forwarding port 8001" in errors[0]
    finally:
        fw.stop()


def test_local_port_in_use_is_a_clear_error_and_nothing_stays_bound(sandbox, web_dev):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        fw = PortForwards(web_dev.api, web_dev.resolve, ["0:8000", f"{port}:8000"])
        with pytest.raises(DevModeError, match=f"local port {port} is already in use"):
            fw.start()
        assert fw.addresses == []
    finally:
        busy.close()


def _never_resolved(timeout: float) -> DevPod:
    raise AssertionError("a bad entry is refused before any pod is resolved")


def test_bad_port_forward_entry_is_a_clear_error():
    with pytest.raises(DevModeError, match="not LOCAL:REMOTE"):
        PortForwards(None, _never_resolved, ["80:http"])
