"""The only code that talks to Kubernetes, through the official `kubernetes` client.

The client is imported lazily (it costs ~0.5 s), so the language server starts fast and
validates YAML with no cluster at all. Every call here blocks: callers in the language server
run them in worker threads.
"""

from .connection import ClusterConfig, ClusterError, NoKubeconfig, connect

__all__ = ["ClusterConfig", "ClusterError", "NoKubeconfig", "connect"]
