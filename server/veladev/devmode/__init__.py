"""Dev mode: swap a component's workload to a dev image, sync files, forward ports, run and
debug in the dev container, and restore the workload exactly at the end.

The engine knows nothing of LSP; all Kubernetes access goes through `veladev.cluster`.
"""

from .errors import DevModeError
from .pod import DevPod, PodResolver

__all__ = ["DevModeError", "DevPod", "PodResolver"]
