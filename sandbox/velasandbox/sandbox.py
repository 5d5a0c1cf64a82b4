"""The sandbox: one event loop (in a background thread) running the store, the
controllers, the pod runtime and the HTTP API server, plus the fault hooks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import threading
from typing import TYPE_CHECKING, Any, Self

import yaml
from aiohttp import web

from . import kinds
from .apiserver import ApiParts, ApiServer, _json
from .clusters import LOCAL, SECRET_NAMESPACE, ClusterAccess, check_cluster_name, check_labels, registration_secret
from .controllers import ControllerManager, GarbageCollector, builtin_controllers
from .errors import ApiError, bad_request
from .store import Store, now_iso, rand_suffix

if TYPE_CHECKING:  # pragma: no cover
    from .gateway import Gateway
    from .kubevela.controller import ApplicationController
    from .runtime import NullRuntime, PodRuntime
    from .velaux import VelaUX

log = logging.getLogger("velasandbox")

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Sandbox:
    """A local stand-in Kubernetes API with real pods.

    ``start()`` returns once the API server listens; ``stop()`` kills every pod process
    and leaves nothing behind. All fault hooks are thread-safe.
    """

    # set by the KubeVela extension (kubevela.install), absent without it
    kubevela: ApplicationController
    velaux: VelaUX

    def __init__(
        self,
        state_dir: str,
        port: int = 0,
        host: str = "127.0.0.1",
        token: str | None = None,
        pods: bool = True,
        extensions=(),
        kubevela: bool = True,
        pod_network: str = "10.244",
    ):
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.host = host
        self.port = port
        self.token = token or self._load_token()
        self.enable_pods = pods
        self.enable_kubevela = kubevela  # False for a managed cluster: KubeVela runs on the hub only
        self.pod_network = pod_network  # first two octets of the pod IPs (distinct per cluster)
        #: managed clusters registered on this hub, by name (see add_cluster)
        self.clusters: dict[str, Sandbox] = {}
        self._registrations: dict[str, tuple[dict[str, str], str]] = {}  # name -> (labels, alias)
        self.gateway: Gateway | None = None
        # callables (or "module:function" strings) run on the loop before the controllers
        # start: the place to register kinds and add controllers (e.g. the KubeVela half)
        self.extensions = list(extensions) + [e for e in os.environ.get("VELASANDBOX_EXTENSIONS", "").split(",") if e]
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self._store: Store | None = None
        self.api: ApiServer | None = None
        self.runner: web.AppRunner | None = None
        self.controllers: ControllerManager | None = None
        self.gc = GarbageCollector(self)
        self._runtime: PodRuntime | NullRuntime | None = None
        self.admin = Admin(self)
        self._started = False
        self.api_starts = 0  # how many times the HTTP server has (re)started

    @property
    def runtime(self) -> PodRuntime | NullRuntime:
        if self._runtime is None:
            raise RuntimeError("the sandbox has not been started")
        return self._runtime

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the sandbox has not been started")
        return self._store

    # ------------------------------------------------------------------ paths
    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.state_dir, "kubeconfig")

    @property
    def server_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_file(self) -> str:
        from .tls import ensure_certs

        return ensure_certs(self.state_dir)[0]

    def ssl_context(self):
        """An ``ssl.SSLContext`` that trusts the sandbox CA (for raw HTTP clients)."""
        from .tls import client_context

        return client_context(self.state_dir)

    def _load_token(self) -> str:
        p = os.path.join(self.state_dir, "token")
        if os.path.exists(p):
            with open(p) as f:
                return f.read().strip()
        tok = secrets.token_hex(24)
        with open(p, "w") as f:
            f.write(tok)
        os.chmod(p, 0o600)
        return tok

    def write_kubeconfig(self):
        import base64

        with open(self.ca_file, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {"name": "velasandbox", "cluster": {"server": self.server_url, "certificate-authority-data": ca}}
            ],
            "users": [{"name": "velasandbox", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "velasandbox",
                    "context": {"cluster": "velasandbox", "user": "velasandbox", "namespace": "default"},
                }
            ],
            "current-context": "velasandbox",
        }
        tmp = self.kubeconfig + ".tmp"
        with open(tmp, "w") as f:
            yaml.safe_dump(cfg, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.kubeconfig)

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 30.0) -> Self:
        if self._started:
            return self
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run_loop, args=(ready,), name="velasandbox", daemon=True)
        self.thread.start()
        ready.wait()
        self.call(self._astart(), timeout=timeout)
        self._started = True
        for name in self.clusters:
            self._start_and_register(name)
        return self

    def _run_loop(self, ready: threading.Event):
        loop = self._loop()
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()
        loop.close()

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            raise RuntimeError("the sandbox has not been started")
        return self.loop

    def call(self, coro, timeout: float | None = 60.0) -> Any:
        """Run a coroutine on the sandbox loop from another thread and return its result."""
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop())
        return fut.result(timeout)

    async def _astart(self):
        self._store = Store(os.path.join(self.state_dir, "store.json"))
        nsk = kinds.builtin("", "v1", "namespaces")
        for ns in DEFAULT_NAMESPACES:
            if not self.store.namespace_exists(ns):
                self.store.create(nsk, {"metadata": {"name": ns}})
        nodes = kinds.builtin("", "v1", "nodes")
        if self.store.try_get(nodes, None, "velasandbox") is None:
            self.store.create(
                nodes,
                {
                    "metadata": {
                        "name": "velasandbox",
                        "labels": {
                            "kubernetes.io/hostname": "velasandbox",
                            "kubernetes.io/os": "linux",
                            "node-role.kubernetes.io/control-plane": "",
                        },
                    },
                    "spec": {},
                    "status": {
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "reason": "KubeletReady",
                                "message": "velasandbox is posting ready status",
                                "lastHeartbeatTime": now_iso(),
                                "lastTransitionTime": now_iso(),
                            }
                        ],
                        "addresses": [
                            {"type": "InternalIP", "address": "127.0.0.1"},
                            {"type": "Hostname", "address": "velasandbox"},
                        ],
                        "nodeInfo": {
                            "kubeletVersion": "v1.31.0-velasandbox",
                            "operatingSystem": "linux",
                            "architecture": "amd64",
                            "containerRuntimeVersion": "velasandbox://1",
                            "kernelVersion": os.uname().release,
                            "osImage": "velasandbox",
                            "kubeProxyVersion": "",
                            "machineID": "",
                            "systemUUID": "",
                            "bootID": "",
                        },
                    },
                },
            )
        # namespaces are deleted by the namespace controller once their contents are gone
        self.store.delete_hooks[("", "namespaces")] = lambda ns: True
        self.gc.attach()
        controllers = self.controllers = ControllerManager(self)
        for c in builtin_controllers(self):
            controllers.add(c)
        if self.enable_kubevela:
            from .kubevela import install as install_kubevela  # KubeVela + VelaUX stand-ins

            await install_kubevela(self)
            from .gateway import Gateway

            self.gateway = Gateway(self.store, self._local_access)
        if self.enable_pods:
            from .runtime import PodRuntime

            pod_runtime = PodRuntime(self)
            self._runtime = pod_runtime
            await pod_runtime.start()
            controllers.add(pod_runtime)
        else:
            from .runtime import NullRuntime

            self._runtime = NullRuntime(self)
        for ext in self.extensions:
            fn = ext
            if isinstance(ext, str):
                import importlib

                mod, _, attr = ext.partition(":")
                fn = getattr(importlib.import_module(mod), attr or "setup")
            r = fn(self)
            if asyncio.iscoroutine(r):
                await r
        await controllers.start()
        await self._start_http()
        self.write_kubeconfig()

    async def _start_http(self):
        self.api = ApiServer(
            ApiParts(
                store=self.store,
                token=self.token,
                pods=self.runtime,
                orphan=self.gc.orphan,
                admin=self.admin.handle,
                address=lambda: f"127.0.0.1:{self.port}",
                gateway=self.gateway,
            )
        )
        runner = self.runner = web.AppRunner(self.api.app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        from .tls import server_context

        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, ssl_context=server_context(self.state_dir))
        await site.start()
        if not self.port:
            self.port = runner.addresses[0][1]
        self.api_starts += 1

    async def _stop_http(self):
        if self.api is None:
            return
        for w in list(self.api.open_watches):
            w.close()
        await self._drop_streams()
        if self.runner is not None:
            await self.runner.cleanup()
        self.api = None
        self.runner = None

    def stop(self, timeout: float = 60.0):
        """Stop the sandbox, then its managed clusters."""
        try:
            if self._started:
                try:
                    self.call(self._astop(), timeout=timeout)
                finally:
                    loop = self._loop()
                    loop.call_soon_threadsafe(loop.stop)
                    if self.thread is not None:
                        self.thread.join(10)
                    self._started = False
        finally:
            for cluster in self.clusters.values():
                cluster.stop(timeout)

    async def _astop(self):
        if self.enable_kubevela:
            from .kubevela import uninstall as uninstall_kubevela

            await uninstall_kubevela(self)
        await self._stop_http()
        if self.gateway is not None:
            await self.gateway.close()
        if self.controllers is not None:
            await self.controllers.stop()
        if self._runtime is not None:
            await self._runtime.shutdown()
        self.store.flush()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ helpers
    def record_event(
        self,
        obj: dict,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "velasandbox",
        aggregate: bool = False,
    ):
        """A v1 Event about `obj`. With `aggregate`, a repeat of the same event (object, reason,
        message, type) counts up `count` on one Event, as client-go's EventCorrelator does."""
        md = obj.get("metadata", {})
        ns = md.get("namespace") or "default"
        if not self.store.namespace_exists(ns):
            return
        now = now_iso()
        kind = kinds.builtin("", "v1", "events")
        suffix = rand_suffix(10)
        if aggregate:
            same = "|".join(str(x) for x in (md.get("uid"), reason, message, type_))
            suffix = hashlib.sha256(same.encode()).hexdigest()[:10]
            seen = self.store.try_get(kind, ns, f"{md.get('name', 'x')}.{suffix}")
            if seen is not None:
                seen["count"] = int(seen.get("count") or 1) + 1
                seen["lastTimestamp"] = now
                self.store.update(kind, seen, require_rv=False)
                return
        ev = {
            "metadata": {"name": f"{md.get('name', 'x')}.{suffix}", "namespace": ns},
            "involvedObject": {
                "kind": obj.get("kind"),
                "apiVersion": obj.get("apiVersion"),
                "name": md.get("name"),
                "namespace": ns,
                "uid": md.get("uid"),
                "resourceVersion": md.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "eventTime": None,
            "source": {"component": component, "host": "velasandbox"},
            "reportingComponent": component,
            "reportingInstance": "velasandbox",
        }
        try:
            self.store.create(kind, ev)
        except ApiError:
            pass

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` configured for this sandbox."""
        from kubernetes import config as kconfig

        return kconfig.new_client_from_config(config_file=self.kubeconfig)

    # ------------------------------------------------------------------ managed clusters
    def add_cluster(self, name: str, labels: dict[str, str] | None = None, alias: str = "") -> Self:
        """A managed cluster: a sandbox of its own (port, state under ``clusters/<name>``, token,
        CA, pods; no KubeVela) registered on this hub as ``vela cluster join`` does. Before
        start() it is started with the hub; afterwards at once. ValueError for a bad name."""
        labels = dict(labels or {})
        check_cluster_name(name)
        check_labels(labels)
        if name in self.clusters:
            raise ValueError(f"cluster {name} already exists")
        cluster = type(self)(
            os.path.join(self.state_dir, "clusters", name),
            host=self.host,
            pods=self.enable_pods,
            kubevela=False,
            pod_network=f"10.{(245 + len(self.clusters)) % 256}",  # the hub has 10.244
        )
        self.clusters[name] = cluster
        self._registrations[name] = (labels, alias)
        if self._started:
            self._start_and_register(name)
        return cluster

    def _start_and_register(self, name: str) -> None:
        cluster = self.clusters[name]
        cluster.start()
        cluster.call(cluster._ensure_namespace(SECRET_NAMESPACE))  # join creates it in the cluster
        with open(cluster.ca_file, "rb") as f:
            ca_pem = f.read()
        labels, alias = self._registrations[name]
        secret = registration_secret(name, cluster.server_url, ca_pem, cluster.token, labels, alias)
        self.call(self._apply_registration(secret))

    async def _ensure_namespace(self, name: str) -> None:
        if not self.store.namespace_exists(name):
            self.store.create(kinds.builtin("", "v1", "namespaces"), {"metadata": {"name": name}})

    async def _apply_registration(self, secret: dict) -> None:
        await self._ensure_namespace(SECRET_NAMESPACE)
        kind = kinds.builtin("", "v1", "secrets")
        current = self.store.try_get(kind, SECRET_NAMESPACE, secret["metadata"]["name"])
        if current is None:
            self.store.create(kind, secret)
        else:  # re-registered (a hub restarted on its state): new port, CA and token
            secret["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.store.update(kind, secret)

    def _local_access(self) -> ClusterAccess:
        with open(self.ca_file, "rb") as f:
            ca_pem = f.read()
        return ClusterAccess(LOCAL, self.server_url, ca_pem, self.token, "Internal", "Const")

    def _cluster(self, name: str) -> Sandbox:
        if name not in self.clusters:
            raise ValueError(f"no such cluster {name}")
        return self.clusters[name]

    def stop_cluster(self, name: str) -> None:
        """Cut a managed cluster off: its API server stops listening (connections are refused);
        its pods keep running."""
        self._cluster(name).stop_api_server()

    def start_cluster(self, name: str) -> None:
        """Let a stopped managed cluster listen again, on the same port with the same state."""
        self._cluster(name).start_api_server()

    @property
    def listening(self) -> bool:
        return self.api is not None

    def cluster_status(self) -> list[dict]:
        """Name, endpoint, labels, alias and whether it listens, per managed cluster."""
        return [
            {
                "name": name,
                "server": c.server_url,
                "labels": self._registrations[name][0],
                "alias": self._registrations[name][1],
                "listening": c.listening,
                "stateDir": c.state_dir,
            }
            for name, c in self.clusters.items()
        ]

    # ------------------------------------------------------------------ fault hooks
    def stop_api_server(self) -> None:
        """Stop listening (every connection dropped, new ones refused); pods keep running."""
        self.call(self._stop_http())

    def start_api_server(self) -> None:
        """Listen again on the same port after stop_api_server()."""

        async def go():
            if self.api is None:
                await self._start_http()

        self.call(go())

    def restart_api_server(self):
        """Stop the HTTP server (dropping every connection), reload the objects from the
        state directory and listen again on the same port. Pods keep running."""

        async def go():
            await self._stop_http()
            self.store.flush()
            self.store.load_keep_history()
            await self._start_http()

        self.call(go())

    def drop_streams(self) -> int:
        """Abruptly close every open exec, port-forward and log-follow stream."""
        return self.call(self._drop_streams())

    async def _drop_streams(self) -> int:
        if self.api is None:
            return 0
        n = 0
        for s in list(self.api.open_streams):
            n += 1
            try:
                await s.drop()
            except Exception:  # noqa: BLE001 - a fault injection: a stream that fails to drop must not spare the others
                pass
        return n

    def kill_pod_processes(self, namespace: str, name: str, sig: int = 9) -> int:
        """SIGKILL every container process of a pod (the runtime restarts per restartPolicy)."""
        return self.call(self.runtime.kill_pod_processes(namespace, name, sig))

    def delete_pod(self, namespace: str, name: str, grace: int | None = 0):
        async def go():
            self.store.delete(kinds.builtin("", "v1", "pods"), namespace, name, grace=grace)

        self.call(go())

    def add_controller(self, ctrl) -> None:
        """Register a :class:`~velasandbox.controllers.Controller` (thread-safe)."""

        async def go():
            if self.controllers is None:
                raise RuntimeError("the sandbox has not been started")
            self.controllers.add(ctrl)

        self.call(go())

    def register_repo(self, name: str, path: str):
        """Register a git repository for ``sandbox.local/<name>:<commit>`` images."""
        self.images.register_repo(name, path)

    @property
    def images(self):
        from .images import ImageRegistry

        return ImageRegistry(os.path.join(self.state_dir, "registry"))

    # snapshot helpers for tests (thread-safe)
    def get(self, group: str, plural: str, namespace: str | None, name: str) -> dict | None:
        async def go():
            for k in kinds.all_kinds():
                if k.group == group and k.plural == plural:
                    return self.store.try_get(k, namespace, name)
            return None

        return self.call(go())

    def pod_info(self) -> list[dict]:
        """Host-side facts about running pods (pids, namespace inodes, dirs)."""
        return self.call(self.runtime.info())


class Admin:
    """Authenticated ``/sandbox/...`` admin endpoints (fault hooks and registry)."""

    def __init__(self, sb: Sandbox):
        self.sb = sb

    async def handle(self, request: web.Request, path: str, q) -> web.Response:
        sb = self.sb
        parts = [p for p in path.split("/") if p][1:]
        if request.method == "GET" and parts == ["status"]:
            info = await sb.runtime.info()
            return _json(
                {
                    "server": sb.server_url,
                    "stateDir": sb.state_dir,
                    "resourceVersion": sb.store.rv,
                    "pods": info,
                    "apiStarts": sb.api_starts,
                    "openStreams": len(sb.api.open_streams) if sb.api else 0,
                    "clusters": sb.cluster_status(),
                }
            )
        if request.method != "POST":
            raise ApiError(405, "MethodNotAllowed", "admin endpoints take POST")
        if len(parts) == 3 and parts[0] == "clusters":
            return await self._cluster_fault(parts[1], parts[2])
        raw = await request.read()
        body = json.loads(raw) if raw.strip() else {}
        if parts == ["drop-streams"]:
            return _json({"dropped": await sb._drop_streams()})
        if parts == ["kill-pod"]:
            n = await sb.runtime.kill_pod_processes(
                body.get("namespace", "default"), body["name"], int(body.get("signal", 9))
            )
            return _json({"killed": n})
        if parts == ["restart-api"]:

            async def later():
                await asyncio.sleep(0.05)
                await sb._stop_http()
                sb.store.flush()
                sb.store.load_keep_history()
                await sb._start_http()

            asyncio.get_running_loop().create_task(later())
            return _json({"restarting": True})
        if parts == ["register-repo"]:
            await asyncio.get_running_loop().run_in_executor(None, sb.images.register_repo, body["name"], body["path"])
            return _json({"registered": body["name"]})
        raise bad_request(f"unknown admin endpoint {path}")

    async def _cluster_fault(self, name: str, action: str) -> web.Response:
        """``POST /sandbox/clusters/<name>/stop|start``: cut a managed cluster off, or back on."""
        cluster = self.sb.clusters.get(name)
        if cluster is None:
            raise ApiError(404, "NotFound", f"no such cluster {name}")
        if action == "stop":
            coro = cluster._stop_http()
        elif action == "start":
            coro = cluster._start_http() if cluster.api is None else asyncio.sleep(0)
        else:
            raise bad_request(f"unknown cluster action {action} (stop or start)")
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, cluster._loop()))
        return _json({"cluster": name, "listening": cluster.listening})
