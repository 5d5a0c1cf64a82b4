"""A component's pods and their log (`pods/log`), read as a stream in bounded pieces: a
follow runs until the pod's log ends or the caller closes it, never holding more than one
piece in memory."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

from .apps import _call
from .connection import ClusterError

#: Bytes read from the stream at a time (and the most a caller gets in one piece).
CHUNK = 16 * 1024
#: Seconds to connect; then a read may wait this long for the next line (a follow of a pod that
#: stays quiet longer ends with a message; the client accepts no unbounded read timeout).
CONNECT_TIMEOUT = 10.0
QUIET_FOLLOW = 24 * 3600.0


def component_pods(api_client, namespace: str, app: str, component: str) -> list[str]:
    """The component's pods (not being deleted), oldest first, by KubeVela's labels."""
    from kubernetes import client

    selector = f"app.oam.dev/name={app},app.oam.dev/component={component}"
    pods = _call(
        f"list the pods of component {component} in {namespace}",
        lambda: client.CoreV1Api(api_client).list_namespaced_pod(namespace, label_selector=selector),
    ).items
    live = [p for p in pods if p.metadata and not p.metadata.deletion_timestamp]
    live.sort(key=lambda p: (str(p.metadata.creation_timestamp or ""), p.metadata.name))
    return [p.metadata.name for p in live]


class LogStream:
    """An open `pods/log` response; iterate for text pieces, `close()` from any thread ends it."""

    def __init__(self, response: Any, what: str):
        self.response = response
        self.what = what
        self.closed = False

    def __iter__(self) -> Iterator[str]:
        from urllib3.exceptions import HTTPError

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            for chunk in self.response.stream(CHUNK, decode_content=True):
                text = decoder.decode(chunk)
                if text:
                    yield text
        except (HTTPError, OSError, AttributeError, ValueError) as exc:
            if not self.closed:  # a close from another thread ends the read with an error: expected
                raise ClusterError(f"{self.what}: the log stream broke ({type(exc).__name__})") from None
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def close(self) -> None:
        self.closed = True
        try:
            self.response.close()
        except Exception:  # noqa: BLE001 - closing a stream that is already gone
            pass


def open_log(api_client, namespace: str, pod: str, follow: bool = False, tail_lines: int | None = None) -> LogStream:
    """The pod's log (its first container's: the component's own), streamed."""
    from kubernetes import client

    what = f"log of pod {namespace}/{pod}"
    response = _call(
        f"read the {what}",
        lambda: client.CoreV1Api(api_client).read_namespaced_pod_log(
            pod,
            namespace,
            follow=follow,
            tail_lines=tail_lines,
            _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, QUIET_FOLLOW if follow else 60.0),
        ),
    )
    return LogStream(response, what)
