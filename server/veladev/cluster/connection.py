"""Connecting to a cluster from a kubeconfig, with errors a user can act on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class ClusterError(Exception):
    """A cluster problem, worded for the user (never containing credentials)."""


class NoKubeconfig(ClusterError):
    """No kubeconfig file where one was looked for; each front end says how to name one."""


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    kubeconfig: str = ""  # empty: $KUBECONFIG, then ~/.kube/config
    context: str = ""  # empty: the kubeconfig's current context

    def path(self) -> Path:
        if self.kubeconfig:
            return Path(os.path.expanduser(self.kubeconfig))
        env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        return Path(env) if env else Path.home() / ".kube" / "config"


def connect(config: ClusterConfig):
    """A `kubernetes.client.ApiClient` for the configured cluster."""
    path = config.path()
    if not path.is_file():
        raise NoKubeconfig(f"no kubeconfig at {path}")
    import yaml
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    try:
        return kube_config.new_client_from_config(config_file=str(path), context=config.context or None)
    except ConfigException as exc:
        # The client's messages name contexts and files, not credentials.
        raise ClusterError(f"cannot use kubeconfig {path}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ClusterError(f"cannot read kubeconfig {path}: {type(exc).__name__}") from None
    except (yaml.YAMLError, TypeError, KeyError, AttributeError, IndexError) as exc:  # a malformed file
        # Only the type and the place: the parser's message quotes the file, credentials included.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ClusterError(f"cannot read kubeconfig {path}: it is not a valid kubeconfig{where}") from None
    except Exception as exc:  # noqa: BLE001 - anything else the client trips on: a message, not a traceback
        raise ClusterError(f"cannot read kubeconfig {path}: {type(exc).__name__}") from None
