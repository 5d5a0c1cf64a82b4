"""The narrow interfaces the sandbox's parts hand each other, instead of the whole Sandbox.

The HTTP side (:mod:`.apiserver`, :mod:`.streams`, :mod:`.podlogs`, :mod:`.spdy`) reaches pods
only through :class:`PodProcesses`; controllers reach the cluster state only through
:class:`ControllerHost`. :class:`velasandbox.sandbox.Sandbox` wires the real objects together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import socket

    from .store import Store


class Droppable(Protocol):
    """An open exec, port-forward or log-follow stream the fault hooks may cut."""

    async def drop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LogFile:
    """A container's log as the log endpoint serves it."""

    path: str
    #: true while the container run that writes `path` goes on (a follow stops after it)
    live: Callable[[], bool]


class PodProcesses(Protocol):
    """What exec, port-forward and the log endpoint need from the pod runtime."""

    def exec_target(self, pod: dict, container: str | None) -> tuple[Any, Any]: ...

    def nsenter_argv(self, run: Any, container: str, workdir: str, argv: list[str]) -> list[str]: ...

    def running(self, pod: dict) -> Any | None: ...

    async def open_socket(self, run: Any, port: int) -> socket.socket: ...

    def log_file(self, pod: dict, container: str | None, previous: bool) -> LogFile: ...


class ControllerHost(Protocol):
    """What a controller may use of the sandbox: the object store and the event recorder."""

    @property
    def store(self) -> Store: ...

    def record_event(
        self,
        obj: dict,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "velasandbox",
        aggregate: bool = False,
    ) -> None: ...


class PodHost(ControllerHost, Protocol):
    """What the pod runtime uses besides: where state lives, the API port pods are told, and
    the first two octets of its pod IPs (distinct per cluster, so a pod IP names one pod)."""

    state_dir: str
    pod_network: str

    @property
    def port(self) -> int: ...
