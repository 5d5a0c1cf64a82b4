"""Which container dev mode works in.

Sync, port-forward and run/debug never hold a pod name for long: a dev pod can be replaced
(deleted, evicted, restarted), so they ask a `PodResolver` for the current one each time they
(re)connect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DevPod:
    namespace: str
    name: str
    container: str
    work_dir: str


# Returns the current Ready dev pod, waiting for a replacement up to `timeout` seconds;
# raises DevModeError when there is none (dev mode ended, or the pod does not come back).
PodResolver = Callable[[float], DevPod]
