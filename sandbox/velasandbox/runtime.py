"""The pod runtime (the sandbox's kubelet): pods are real processes.

Each pod gets a *holder* process started with ``unshare --net --mount --uts`` (plus
``--user --map-root-user`` when not root) that owns the pod's network, mount and UTS
namespaces (see :mod:`velasandbox.nsholder`).  Containers, exec sessions and exec probes are
started with ``nsenter -t <holder> -n -m -u --root=<container root> --wd=<workingDir>``, so
they share the pod's loopback network and see the pod's own directories at the container
paths, and the host's toolchain everywhere else.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from . import errors, kinds
from .controllers import Controller, set_condition
from .errors import ApiError, bad_request
from .images import Image, ImageRegistry
from .parts import LogFile, PodHost
from .store import now_iso

log = logging.getLogger("velasandbox.runtime")

NODE_NAME = "velasandbox"
MAX_BACKOFF = 10.0


def _which(name: str) -> str | None:
    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin:" + os.environ.get("PATH", ""))


def _tool(name: str) -> str:
    """A host tool for a command line; namespace_support() has checked that it exists."""
    return _which(name) or name


_support_cache: list = []


def _probe_support() -> tuple[str | None, bool]:
    if sys.platform != "linux":
        return "velasandbox pods need Linux namespaces; this is not Linux", False
    if not _which("unshare") or not _which("nsenter"):
        return "velasandbox pods need unshare and nsenter (util-linux), which are not installed", False
    base = [_tool("unshare"), "--net", "--mount", "--uts"]
    errs = []
    # as root, plain namespaces; otherwise (or if root lacks CAP_SYS_ADMIN, e.g. in an
    # unprivileged container) unprivileged user namespaces
    modes = [False, True] if os.geteuid() == 0 else [True]
    for userns in modes:
        cmd = list(base)
        if userns:
            cmd[1:1] = ["--user", "--map-root-user"]
        r = subprocess.run(cmd + ["true"], capture_output=True, text=True)
        if r.returncode == 0:
            return None, userns
        errs.append(r.stderr.strip() or "unshare failed")
    return (
        "velasandbox pods need root or unprivileged user namespaces, and neither works here (" + "; ".join(errs) + ")"
    ), False


def namespace_support() -> str | None:
    """None when pods can run on this machine, else one line saying why not."""
    if not _support_cache:
        _support_cache.append(_probe_support())
    return _support_cache[0][0]


def userns_mode() -> bool:
    """True when pods use unprivileged user namespaces (not root, or root without privileges)."""
    namespace_support()
    return _support_cache[0][1]


def _ns_inode(pid: int, ns: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
    except OSError:
        return None


def processes_in_netns(ino: int, exclude: Collection[int] = ()) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) in exclude:
            continue
        if _ns_inode(int(p), "net") == ino:
            out.append(int(p))
    return out


@dataclass
class ContainerRun:
    name: str
    spec: dict
    init: bool = False
    image: Image | None = None
    proc: asyncio.subprocess.Process | None = None
    restart_count: int = 0
    state: dict = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    log_path: str = ""
    prev_log_path: str = ""
    env: dict = field(default_factory=dict)
    argv: list = field(default_factory=list)
    workdir: str = "/"
    probe_tasks: list = field(default_factory=list)
    gen: int = 0  # bumped on every (re)start, so probes know which run they watch
    running_since: float = 0.0

    @property
    def resolved_image(self) -> Image:
        """The image, once the pod's start resolved it (before that nothing runs)."""
        if self.image is None:
            raise RuntimeError(f"container {self.name}: image not resolved yet")
        return self.image


class PodRun:
    def __init__(self, rt: PodRuntime, pod: dict):
        md = pod["metadata"]
        self.rt = rt
        self.ns = md["namespace"]
        self.name = md["name"]
        self.uid = md["uid"]
        self.dir = os.path.join(rt.pods_dir, self.uid)
        self.holder: asyncio.subprocess.Process | None = None
        self.holder_pid = 0
        self.netns = 0
        self.mntns = 0
        self.containers: dict[str, ContainerRun] = {}
        self.init_containers: list[ContainerRun] = []
        self.task: asyncio.Task | None = None
        self.phase = "Pending"
        self.initialized = False
        self.start_time: str | None = None
        self.terminating = False
        self.exec_procs: set = set()
        self.wake = asyncio.Event()
        self.pod_ip = rt.alloc_ip()

    @property
    def root_of(self):
        return lambda c: os.path.join(self.dir, "rootfs", c)


class PodRuntime(Controller):
    primary = ("", "pods")

    def __init__(self, sandbox: PodHost):
        super().__init__(sandbox)
        self.sb: PodHost = sandbox
        self.pods_dir = os.path.join(sandbox.state_dir, "pods")
        os.makedirs(self.pods_dir, exist_ok=True)
        self.runs: dict[str, PodRun] = {}  # uid -> run
        self.registry = ImageRegistry(os.path.join(sandbox.state_dir, "registry"))
        self.userns = userns_mode()
        self._ip = 1

    def alloc_ip(self) -> str:
        self._ip += 1
        return f"{self.sb.pod_network}.{self._ip // 250}.{self._ip % 250 + 1}"

    async def start(self):
        self.sb.store.delete_hooks[("", "pods")] = self._defer_delete
        # pods directories left over from a previous run hold nothing mounted (the
        # namespaces died with their processes); clear them
        for d in os.listdir(self.pods_dir):
            self._remove_pod_dir(os.path.join(self.pods_dir, d))

    def _defer_delete(self, pod: dict) -> bool:
        # a scheduled pod is removed by the runtime once its processes are gone
        return bool(pod.get("spec", {}).get("nodeName"))

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, namespace, name):
        store = self.store
        pods = self.kind
        pod = store.try_get(pods, namespace, name)
        self._stop_stale_runs(namespace, name, pod["metadata"]["uid"] if pod is not None else None)
        if pod is None:
            return
        md = pod["metadata"]
        run = self.runs.get(md["uid"])
        if md.get("deletionTimestamp"):
            if run is None:
                store.remove_now(pods, namespace, name)
            elif not run.terminating:
                grace = md.get("deletionGracePeriodSeconds", pod["spec"].get("terminationGracePeriodSeconds", 30))
                asyncio.get_running_loop().create_task(self._terminate(run, grace, remove=True))
            return
        if not pod["spec"].get("nodeName"):
            pod = self._schedule(pod)
        if run is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return  # finished before a sandbox restart: leave it
            run = PodRun(self, pod)
            self.runs[run.uid] = run
            run.task = asyncio.get_running_loop().create_task(self._run_pod(run))

    def _stop_stale_runs(self, namespace: str, name: str, live_uid: str | None) -> None:
        """Stops the runs of a pod name whose pod object is gone (force-deleted or replaced)."""
        for uid, stale in list(self.runs.items()):
            if stale.ns == namespace and stale.name == name and uid != live_uid and not stale.terminating:
                asyncio.get_running_loop().create_task(self._terminate(stale, 0, remove=False))

    def _schedule(self, pod: dict) -> dict:
        """Binds the pod to the sandbox's one node (PodScheduled), as the scheduler would."""
        md = pod["metadata"]
        pod["spec"]["nodeName"] = NODE_NAME
        pod = self.store.update(self.kind, pod, require_rv=False)
        st = pod.setdefault("status", {})
        st["phase"] = "Pending"
        st["conditions"] = set_condition(st.get("conditions") or [], "PodScheduled", "True")
        self.store.update(self.kind, pod, subresource="status", require_rv=False)
        self.event(pod, "Scheduled", f"Successfully assigned {md.get('namespace', '')}/{md['name']} to {NODE_NAME}")
        return pod

    def event(self, obj: dict, reason: str, message: str, type_: str = "Normal", aggregate: bool = False):
        self.sb.record_event(obj, reason, message, type_, component="kubelet", aggregate=aggregate)

    # ------------------------------------------------------------------ pod lifecycle
    def _pod(self, run: PodRun) -> dict | None:
        p = self.store.try_get(self.kind, run.ns, run.name)
        if p is None or p["metadata"]["uid"] != run.uid:
            return None
        return p

    async def _run_pod(self, run: PodRun):
        try:
            await self._run_pod_inner(run)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to run a pod is the pod's status, as a kubelet reports it
            log.exception("pod %s/%s failed", run.ns, run.name)
            pod = self._pod(run)
            if pod:
                self.event(pod, "FailedCreatePodSandBox", str(e), "Warning")
                pod["status"]["phase"] = "Failed"
                pod["status"]["reason"] = "SandboxError"
                pod["status"]["message"] = str(e)
                try:
                    self.store.update(self.kind, pod, subresource="status", require_rv=False)
                except ApiError:
                    pass  # the pod object went away meanwhile

    async def _run_pod_inner(self, run: PodRun):
        pod = self._pod(run)
        if pod is None:
            return
        spec = pod["spec"]
        run.start_time = now_iso()
        for c in spec.get("initContainers") or []:
            run.init_containers.append(ContainerRun(c["name"], c, init=True))
        for c in spec.get("containers") or []:
            run.containers[c["name"]] = ContainerRun(c["name"], c)
        allc = run.init_containers + list(run.containers.values())
        # 1. images
        if not await self._pull_images(run, allc):
            return
        for c in allc:
            c.state = {"waiting": {"reason": "ContainerCreating"}}
        # 2. directories, volumes, holder
        pod = self._pod(run)
        if pod is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, self._prepare_dirs, run, pod)
        await self._start_holder(run, pod)
        # 3. init containers, in order, to completion
        if not await self._run_init_containers(run, spec):
            return
        run.initialized = True
        # 4. app containers
        tasks = [asyncio.get_running_loop().create_task(self._supervise(run, c)) for c in run.containers.values()]
        await asyncio.gather(*tasks)
        # all containers ended for good
        codes = [c.state.get("terminated", {}).get("exitCode", 1) for c in run.containers.values()]
        run.phase = "Succeeded" if all(x == 0 for x in codes) else "Failed"
        self._sync_status(run)

    async def _pull_images(self, run: PodRun, containers: list[ContainerRun]) -> bool:
        """Resolves every container's image from the registry, retrying with back-off (woken
        early by run.wake) while some are missing; False when the pod went away meanwhile."""
        backoff = 1.0
        while True:
            missing = await self._resolve_images(containers)
            if not missing:
                return True
            pod = self._pod(run)
            if pod is None or run.terminating:
                return False
            for c in missing:
                self._image_missing(pod, c)
            self._sync_status(run)
            try:
                await asyncio.wait_for(run.wake.wait(), backoff)
            except TimeoutError:
                pass
            run.wake.clear()
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _resolve_images(self, containers: list[ContainerRun]) -> list[ContainerRun]:
        """Resolves the images not resolved yet; the containers whose image is still missing."""
        missing = []
        loop = asyncio.get_running_loop()
        for c in containers:
            if c.image is None:
                c.image = await loop.run_in_executor(None, self.registry.resolve, c.spec.get("image", ""))
                if c.image is None:
                    missing.append(c)
        return missing

    def _image_missing(self, pod: dict, c: ContainerRun) -> None:
        """As the kubelet reports it: ErrImagePull the first time, ImagePullBackOff after."""
        first = c.state.get("waiting", {}).get("reason") not in ("ErrImagePull", "ImagePullBackOff")
        reason = "ErrImagePull" if first else "ImagePullBackOff"
        msg = (
            f'Failed to pull image "{c.spec.get("image")}": image not found in the velasandbox registry'
            if first
            else f'Back-off pulling image "{c.spec.get("image")}"'
        )
        c.state = {"waiting": {"reason": reason, "message": msg}}
        self.event(pod, "Failed" if first else "BackOff", msg, "Warning")

    async def _run_init_containers(self, run: PodRun, spec: dict) -> bool:
        """Runs the init containers in order, each until it succeeds; False when one failed
        and the pod's restartPolicy is Never (the pod has failed)."""
        for c in run.init_containers:
            while True:
                code = await self._run_once(run, c)
                if code == 0:
                    break
                if spec.get("restartPolicy", "Always") == "Never":
                    run.phase = "Failed"
                    self._sync_status(run)
                    return False
                c.restart_count += 1
                await asyncio.sleep(min(0.5 * 2**c.restart_count, MAX_BACKOFF))
        return True

    def _volume_dir(self, run: PodRun, v: dict) -> str:
        """The host directory that serves a pod volume, made (and filled, for ConfigMaps and Secrets)."""
        if "hostPath" in v:
            path = v["hostPath"]["path"]
            if v["hostPath"].get("type") in ("DirectoryOrCreate",):
                os.makedirs(path, exist_ok=True)
            return path
        if "persistentVolumeClaim" in v:
            d = os.path.join(self.sb.state_dir, "pvcs", run.ns, v["persistentVolumeClaim"]["claimName"])
            os.makedirs(d, exist_ok=True)
            return d
        d = os.path.join(run.dir, "volumes", v["name"])
        os.makedirs(d, exist_ok=True)
        if (v.get("configMap") or v.get("secret")) is not None:
            self._project(run, v, d)
        return d

    def _prepare_dirs(self, run: PodRun, pod: dict):
        os.makedirs(os.path.join(run.dir, "rootfs"), exist_ok=True)
        os.makedirs(os.path.join(run.dir, "logs"), exist_ok=True)
        vols = {v["name"]: self._volume_dir(run, v) for v in pod["spec"].get("volumes") or []}
        run_tmp = os.path.join(run.dir, "tmp")
        os.makedirs(run_tmp, exist_ok=True)
        os.chmod(run_tmp, 0o1777)
        hosts = os.path.join(run.dir, "hosts")
        with open(hosts, "w") as f:
            f.write(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{run.pod_ip}\t{run.name}\n")
        hostname = os.path.join(run.dir, "hostname")
        with open(hostname, "w") as f:
            f.write(run.name[:63] + "\n")
        spec_containers = {}
        for c in run.init_containers + list(run.containers.values()):
            img = c.resolved_image
            wd = c.spec.get("workingDir") or img.working_dir or "/"
            c.workdir = wd
            mounts = [[run_tmp, "/tmp", False], [hosts, "/etc/hosts", False], [hostname, "/etc/hostname", False]]
            if wd != "/":
                work = os.path.join(run.dir, "containers", c.name, "work")
                os.makedirs(work, exist_ok=True)
                img.materialize(work)
                mounts.append([work, wd, False])
            for vm in c.spec.get("volumeMounts") or []:
                src = vols.get(vm["name"])
                if src is None:
                    continue
                if vm.get("subPath"):
                    src = os.path.join(src, vm["subPath"])
                    if not os.path.exists(src):
                        os.makedirs(src, exist_ok=True)
                mounts.append([src, vm["mountPath"], bool(vm.get("readOnly"))])
            spec_containers[c.name] = {"mounts": mounts}
            c.log_path = os.path.join(run.dir, "logs", f"{c.name}-0.log")
        with open(os.path.join(run.dir, "holder.json"), "w") as f:
            json.dump(
                {
                    "rootfs": os.path.join(run.dir, "rootfs"),
                    "containers": spec_containers,
                    "ctl": os.path.join(run.dir, "ctl.sock"),
                    "hostname": run.name,
                },
                f,
            )

    def _project(self, run: PodRun, v: dict, d: str):
        import base64

        if "configMap" in v:
            src = v["configMap"]
            obj = self.store.try_get(kinds.lookup("", "v1", "configmaps"), run.ns, src.get("name", ""))
            data = dict((obj or {}).get("data") or {})
        else:
            src = v["secret"]
            obj = self.store.try_get(kinds.lookup("", "v1", "secrets"), run.ns, src.get("secretName", ""))
            data = {
                k: base64.b64decode(x).decode("utf-8", "replace") for k, x in ((obj or {}).get("data") or {}).items()
            }
        items = src.get("items")
        if items:
            data = {it["path"]: data.get(it["key"], "") for it in items}
        for k, val in data.items():
            p = os.path.join(d, k)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(val)

    async def _start_holder(self, run: PodRun, pod: dict):
        cmd = [_tool("unshare"), "--net", "--mount", "--uts", "--propagation", "private"]
        if self.userns:
            cmd[1:1] = ["--user", "--map-root-user"]
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=pkg_parent + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd += [sys.executable, "-m", "velasandbox.nsholder", os.path.join(run.dir, "holder.json")]
        run.holder = await asyncio.create_subprocess_exec(
            *cmd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        holder_out = run.holder.stdout
        assert holder_out is not None  # stdout=PIPE above
        line = (await asyncio.wait_for(holder_out.readline(), 30)).decode()
        if not line.startswith("READY"):
            rest = (await holder_out.read()).decode()
            raise RuntimeError(f"pod sandbox failed: {line.strip()} {rest.strip()}")
        _, pid, ino = line.split()
        run.holder_pid = int(pid)
        run.netns = int(ino)
        run.mntns = _ns_inode(run.holder_pid, "mnt") or 0

    # ------------------------------------------------------------------ processes
    def nsenter_argv(self, run: PodRun, container: str, workdir: str, argv: list[str]) -> list[str]:
        """argv that runs ``argv`` in the pod's namespaces, rooted in the container's root
        filesystem, in ``workdir``. nsenter opens ``--root``/``--wd`` before it enters the
        namespaces, so they are given through ``/proc/<holder>/root``, which resolves inside
        the holder's mount namespace (where the container roots are mounted)."""
        root = f"/proc/{run.holder_pid}/root{run.dir}/rootfs/{container}"
        wd = root + "/" + (workdir or "/").strip("/")
        pre = [_tool("nsenter"), "-t", str(run.holder_pid)]
        if self.userns:
            pre += ["-U", "--preserve-credentials"]
        pre += ["-n", "-m", "-u", f"--root={root}", f"--wd={wd.rstrip('/') or '/'}", "--"]
        return pre + list(argv)

    def container_env(self, run: PodRun, c: ContainerRun) -> dict:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": "/root",
            "HOSTNAME": run.name,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.sb.port),
        }
        env.update(c.resolved_image.env or {})
        for ef in c.spec.get("envFrom") or []:
            env.update(self._env_from(run, ef))
        pod = self._pod(run) or {}
        for e in c.spec.get("env") or []:
            if "value" in e:
                env[e["name"]] = _expand(str(e["value"]), env)
            elif "valueFrom" in e:
                env[e["name"]] = self._value_from(run, pod, e["valueFrom"])
            else:
                env[e["name"]] = ""
        return env

    def _data_of(self, plural: str, ns: str, name: str) -> dict:
        """The data of a ConfigMap or Secret, empty when there is none."""
        obj = self.store.try_get(kinds.builtin("", "v1", plural), ns, name) or {}
        return obj.get("data") or {}

    def _env_from(self, run: PodRun, ef: dict) -> dict[str, str]:
        """The variables of one envFrom entry (a ConfigMap's or a Secret's data, with its prefix)."""
        pre = ef.get("prefix", "")
        env = {}
        if "configMapRef" in ef:
            for k, v in self._data_of("configmaps", run.ns, ef["configMapRef"].get("name", "")).items():
                env[pre + k] = v
        if "secretRef" in ef:
            for k, v in self._data_of("secrets", run.ns, ef["secretRef"].get("name", "")).items():
                env[pre + k] = base64.b64decode(v).decode("utf-8", "replace")
        return env

    def _value_from(self, run: PodRun, pod: dict, vf: dict) -> str:
        """An env var's valueFrom: a ConfigMap or Secret key, or a field of the pod."""
        if "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            return self._data_of("configmaps", run.ns, ref.get("name", "")).get(ref.get("key"), "")
        if "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            raw = self._data_of("secrets", run.ns, ref.get("name", "")).get(ref.get("key"))
            return base64.b64decode(raw).decode("utf-8", "replace") if raw else ""
        if "fieldRef" in vf:
            fp = vf["fieldRef"].get("fieldPath", "")
            if fp.startswith("metadata.labels['"):
                return (pod.get("metadata", {}).get("labels") or {}).get(fp[17:-2], "")
            return {
                "metadata.name": run.name,
                "metadata.namespace": run.ns,
                "metadata.uid": run.uid,
                "status.podIP": run.pod_ip,
                "status.hostIP": "127.0.0.1",
                "spec.nodeName": NODE_NAME,
                "spec.serviceAccountName": "default",
            }.get(fp, "")
        return ""

    def container_argv(self, c: ContainerRun) -> list[str]:
        img = c.resolved_image
        if c.spec.get("command"):
            return list(c.spec["command"]) + list(c.spec.get("args") or [])
        if c.spec.get("args"):
            return list(img.entrypoint) + list(c.spec["args"])
        return list(img.entrypoint) + list(img.cmd)

    async def _run_once(self, run: PodRun, c: ContainerRun) -> int:
        """Start container ``c`` once and wait for it; returns its exit code."""
        c.env = self.container_env(run, c)
        c.argv = self.container_argv(c)
        pod = self._pod(run)
        if not c.argv:
            c.state = {"waiting": {"reason": "CreateContainerError", "message": "no command specified"}}
            self._sync_status(run)
            return 128
        if c.restart_count:
            c.prev_log_path = c.log_path
        c.log_path = os.path.join(run.dir, "logs", f"{c.name}-{c.restart_count}.log")
        logf = open(c.log_path, "ab")
        try:
            c.proc = await asyncio.create_subprocess_exec(
                *self.nsenter_argv(run, c.name, c.workdir, c.argv),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                env=c.env,
                start_new_session=True,
            )
        finally:
            logf.close()
        c.gen += 1
        c.running_since = time.monotonic()
        c.state = {"running": {"startedAt": now_iso()}}
        c.started = True
        c.ready = not c.spec.get("readinessProbe")
        if pod is not None and c.restart_count == 0:
            self.event(pod, "Pulled", f'Container image "{c.spec.get("image")}" already present on machine')
            self.event(pod, "Created", f"Created container {c.name}")
            self.event(pod, "Started", f"Started container {c.name}")
        self._start_probes(run, c)
        self._sync_status(run)
        code = await c.proc.wait()
        if code < 0:
            code = 128 - code  # killed by signal N -> 128+N, as a container runtime reports
        for t in c.probe_tasks:
            t.cancel()
        c.probe_tasks = []
        started = c.state.get("running", {}).get("startedAt", now_iso())
        c.state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started,
                "finishedAt": now_iso(),
                "containerID": f"velasandbox://{run.uid}/{c.name}/{c.restart_count}",
            }
        }
        c.ready = False
        c.proc = None
        self._sync_status(run)
        return code

    async def _supervise(self, run: PodRun, c: ContainerRun):
        policy = (self._pod(run) or {}).get("spec", {}).get("restartPolicy", "Always")
        while not run.terminating:
            code = await self._run_once(run, c)
            if run.terminating:
                return
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return
            ran_for = time.monotonic() - c.running_since
            c.last_state = copy.deepcopy(c.state)
            delay = 0.0 if ran_for > 10 else min(0.5 * 2 ** min(c.restart_count, 6), MAX_BACKOFF)
            c.restart_count += 1
            if delay:
                c.state = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off {delay:g}s restarting failed container={c.name} pod={run.name}",
                    }
                }
                pod = self._pod(run)
                if pod:
                    self.event(pod, "BackOff", f"Back-off restarting failed container {c.name}", "Warning")
                self._sync_status(run)
                await asyncio.sleep(delay)

    # ------------------------------------------------------------------ probes
    def _start_probes(self, run: PodRun, c: ContainerRun):
        loop = asyncio.get_running_loop()
        for kind in ("readinessProbe", "livenessProbe"):
            pr = c.spec.get(kind)
            if pr:
                c.probe_tasks.append(loop.create_task(self._probe_loop(run, c, kind, pr, c.gen)))

    async def _probe_loop(self, run: PodRun, c: ContainerRun, kind: str, pr: dict, gen: int):
        await asyncio.sleep(float(pr.get("initialDelaySeconds", 0)))
        period = float(pr.get("periodSeconds", 10))
        fail_th = int(pr.get("failureThreshold", 3))
        succ_th = int(pr.get("successThreshold", 1))
        fails = succs = 0
        while c.gen == gen and not run.terminating:
            ok = await self.probe(run, c, pr)
            if ok:
                succs += 1
                fails = 0
            else:
                fails += 1
                succs = 0
            if kind == "readinessProbe":
                new = c.ready
                if ok and succs >= succ_th:
                    new = True
                elif not ok and fails >= fail_th:
                    new = False
                if new != c.ready:
                    c.ready = new
                    self._sync_status(run)
            elif not ok and fails >= fail_th and c.proc is not None:
                pod = self._pod(run)
                if pod:
                    self.event(pod, "Unhealthy", f"Liveness probe failed for container {c.name}", "Warning")
                self._kill_group(c.proc.pid, signal.SIGKILL)
                return
            await asyncio.sleep(period)

    async def probe(self, run: PodRun, c: ContainerRun, pr: dict) -> bool:
        timeout = float(pr.get("timeoutSeconds", 1))
        try:
            if "exec" in pr:
                proc = await asyncio.create_subprocess_exec(
                    *self.nsenter_argv(run, c.name, c.workdir, pr["exec"].get("command") or ["true"]),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                    env=c.env,
                    start_new_session=True,
                )
                try:
                    return await asyncio.wait_for(proc.wait(), timeout) == 0
                except TimeoutError:
                    self._kill_group(proc.pid, signal.SIGKILL)
                    await proc.wait()
                    return False
            if "tcpSocket" in pr:
                port = self._port(c, pr["tcpSocket"].get("port"))
                sock = await asyncio.wait_for(self.open_socket(run, port), timeout)
                sock.close()
                return True
            if "httpGet" in pr:
                hg = pr["httpGet"]
                port = self._port(c, hg.get("port"))
                sock = await asyncio.wait_for(self.open_socket(run, port), timeout)
                reader, writer = await asyncio.open_connection(sock=sock)
                try:
                    path = hg.get("path") or "/"
                    hdrs = "".join(f"{h['name']}: {h['value']}\r\n" for h in hg.get("httpHeaders") or [])
                    writer.write(
                        f"GET {path} HTTP/1.1\r\nHost: {hg.get('host') or 'localhost'}:{port}\r\n"
                        f"User-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n{hdrs}\r\n".encode()
                    )
                    await writer.drain()
                    line = await asyncio.wait_for(reader.readline(), timeout)
                    parts = line.split()
                    return len(parts) >= 2 and 200 <= int(parts[1]) < 400
                finally:
                    writer.close()
            if "grpc" in pr:
                return False
        except (TimeoutError, OSError, ValueError):
            return False
        return True

    @staticmethod
    def _port(c: ContainerRun, port) -> int:
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ValueError(f"unknown port {port!r}")

    # ------------------------------------------------------------------ sockets into the pod
    async def open_socket(self, run: PodRun, port: int) -> socket.socket:
        """A TCP socket connected to 127.0.0.1:port inside the pod's network namespace."""
        if not run.holder_pid:
            raise ConnectionRefusedError(111, "pod sandbox not running")
        loop = asyncio.get_running_loop()
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.setblocking(False)
        dfd = os.open(run.dir, os.O_PATH | os.O_DIRECTORY)  # keeps sun_path under 108 bytes
        try:
            try:
                await loop.sock_connect(ctl, f"/proc/self/fd/{dfd}/ctl.sock")
            finally:
                os.close(dfd)
            await loop.sock_sendall(ctl, f"C {int(port)}\n".encode())
            while True:
                try:
                    msg, fds, _flags, _ = socket.recv_fds(ctl, 256, 1)
                    break
                except BlockingIOError:
                    fut: asyncio.Future[None] = loop.create_future()
                    loop.add_reader(ctl.fileno(), _resolve, fut)
                    try:
                        await fut
                    finally:
                        loop.remove_reader(ctl.fileno())
        finally:
            ctl.close()
        if msg.startswith(b"OK") and fds:
            s = socket.socket(fileno=fds[0])
            s.setblocking(False)
            return s
        for fd in fds:
            os.close(fd)
        parts = msg.decode(errors="replace").split(" ", 2)
        code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 111
        raise ConnectionRefusedError(code, parts[2].strip() if len(parts) > 2 else "connection refused")

    # ------------------------------------------------------------------ exec
    def find(self, namespace: str, name: str) -> PodRun | None:
        for run in self.runs.values():
            if run.ns == namespace and run.name == name and not run.terminating:
                return run
        return None

    def running(self, pod: dict) -> PodRun | None:
        """The run of a pod whose sandbox is up (exec and port-forward need one)."""
        run = self.runs.get(pod["metadata"]["uid"])
        return run if run is not None and run.holder_pid and not run.terminating else None

    def exec_target(self, pod: dict, container: str | None) -> tuple[PodRun, ContainerRun]:
        md = pod["metadata"]
        run = self.runs.get(md["uid"])
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        if not container:
            container = names[0] if names else ""
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {md['name']}")
        if run is None or not run.holder_pid or run.terminating:
            raise bad_request(f"container {container} is not running in pod {md['name']}")
        c = run.containers.get(container)
        if c is None or c.proc is None:
            raise bad_request(f'unable to upgrade connection: container not found ("{container}")')
        return run, c

    # ------------------------------------------------------------------ termination
    @staticmethod
    def _kill_group(pid: int, sig: int):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _kill_namespace(self, run: PodRun, sig: int) -> int:
        n = 0
        if run.netns:
            for pid in processes_in_netns(run.netns, exclude={run.holder_pid}):
                try:
                    os.kill(pid, sig)
                    n += 1
                except ProcessLookupError:
                    pass
        return n

    async def kill_pod_processes(self, namespace: str, name: str, sig: int = 9) -> int:
        run = self.find(namespace, name)
        if run is None:
            raise errors.not_found(self.kind, name)
        n = 0
        for c in list(run.containers.values()) + run.init_containers:
            if c.proc is not None:
                self._kill_group(c.proc.pid, sig)
                n += 1
        self._kill_namespace(run, sig)
        return n

    async def _terminate(self, run: PodRun, grace, remove: bool):
        if run.terminating:
            return
        run.terminating = True
        run.wake.set()
        pod = self._pod(run)
        grace = min(float(grace if grace is not None else 30), 3.0)
        procs = [c.proc for c in list(run.containers.values()) + run.init_containers if c.proc is not None]
        if pod is not None and procs:
            for c in run.containers.values():
                if c.proc is not None:
                    self.event(pod, "Killing", f"Stopping container {c.name}")
        for p in procs:
            self._kill_group(p.pid, signal.SIGTERM)
        if procs and grace > 0:
            try:
                await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), grace)
            except TimeoutError:
                pass
        await self._destroy(run)
        if remove:
            self.store.remove_now(self.kind, run.ns, run.name)

    async def _kill_processes(self, run: PodRun):
        """SIGKILL to the containers' process groups and to whatever else runs in the pod's namespaces."""
        for c in list(run.containers.values()) + run.init_containers:
            if c.proc is not None:
                self._kill_group(c.proc.pid, signal.SIGKILL)
            for t in c.probe_tasks:
                t.cancel()
        for _ in range(50):
            if not self._kill_namespace(run, signal.SIGKILL):
                break
            await asyncio.sleep(0.02)

    async def _destroy(self, run: PodRun):
        """Kill everything in the pod's namespaces, the holder, then remove the pod dir."""
        await self._kill_processes(run)
        for c in list(run.containers.values()) + run.init_containers:
            if c.proc is not None:
                await _reaped(c.proc)
        if run.task is not None and not run.task.done():
            run.task.cancel()
            try:
                await run.task
            except asyncio.CancelledError:
                pass  # _run_pod logs its own failures
        if run.holder is not None:
            try:
                run.holder.kill()
            except ProcessLookupError:
                pass
            await _reaped(run.holder)
        self.runs.pop(run.uid, None)
        await asyncio.get_running_loop().run_in_executor(None, self._remove_pod_dir, run.dir, run.mntns)

    def _remove_pod_dir(self, d: str, mntns: int = 0):
        if mntns:
            for p in os.listdir("/proc"):
                if p.isdigit() and _ns_inode(int(p), "mnt") == mntns:
                    log.warning("pod dir %s kept: process %s still in its mount namespace", d, p)
                    return
        rootfs = os.path.join(d, "rootfs")
        if os.path.isdir(rootfs):
            try:
                if os.listdir(rootfs):
                    log.warning("pod rootfs %s not empty; kept", rootfs)
                    return
            except OSError:
                return
        shutil.rmtree(d, ignore_errors=True)

    async def shutdown(self):
        runs = list(self.runs.values())
        for r in runs:
            r.terminating = True
            r.wake.set()
        await asyncio.gather(*(self._destroy(r) for r in runs), return_exceptions=True)

    # ------------------------------------------------------------------ status
    def _sync_status(self, run: PodRun):
        pod = self._pod(run)
        if pod is None:
            return
        old = copy.deepcopy(pod.get("status") or {})
        st = copy.deepcopy(old)
        cs_list = []
        for c in run.containers.values():
            cs_list.append(self._cstatus(run, c))
        init_list = [self._cstatus(run, c) for c in run.init_containers]
        phase = run.phase
        if phase == "Pending" and any("running" in c.state for c in run.containers.values()):
            phase = run.phase = "Running"
        if (
            phase == "Running"
            and all("terminated" in c.state for c in run.containers.values())
            and run.containers
            and run.task is not None
            and run.task.done()
        ):
            codes = [c.state["terminated"]["exitCode"] for c in run.containers.values()]
            phase = "Succeeded" if all(x == 0 for x in codes) else "Failed"
        st["phase"] = phase
        st["hostIP"] = "127.0.0.1"
        st["hostIPs"] = [{"ip": "127.0.0.1"}]
        if run.holder_pid:
            st["podIP"] = run.pod_ip
            st["podIPs"] = [{"ip": run.pod_ip}]
        st["startTime"] = run.start_time
        st["qosClass"] = "BestEffort"
        st["containerStatuses"] = cs_list
        if init_list:
            st["initContainerStatuses"] = init_list
        conds = st.get("conditions") or []
        all_ready = bool(run.containers) and all(c.ready for c in run.containers.values())
        set_condition(conds, "PodReadyToStartContainers", "True" if run.holder_pid else "False")
        set_condition(conds, "Initialized", "True" if run.initialized or not run.init_containers else "False")
        set_condition(
            conds, "ContainersReady", "True" if all_ready else "False", "" if all_ready else "ContainersNotReady"
        )
        set_condition(conds, "Ready", "True" if all_ready else "False", "" if all_ready else "ContainersNotReady")
        set_condition(conds, "PodScheduled", "True")
        for cnd in conds:
            cnd.pop("lastUpdateTime", None)
            cnd.pop("message", None) if not cnd.get("message") else None
            cnd.pop("reason", None) if not cnd.get("reason") else None
            cnd["lastProbeTime"] = None
        st["conditions"] = conds
        if st != old:
            pod["status"] = st
            try:
                self.store.update(self.kind, pod, subresource="status", require_rv=False)
            except ApiError:
                pass

    def _cstatus(self, run: PodRun, c: ContainerRun) -> dict:
        img = c.image
        d = {
            "name": c.name,
            "image": c.spec.get("image", ""),
            "imageID": img.image_id if img is not None else "",
            "ready": c.ready,
            "restartCount": c.restart_count,
            "started": "running" in c.state,
            "state": copy.deepcopy(c.state),
            "lastState": copy.deepcopy(c.last_state),
        }
        if "running" in c.state or "terminated" in c.state:
            d["containerID"] = f"velasandbox://{run.uid}/{c.name}/{c.restart_count}"
        return d

    # ------------------------------------------------------------------ logs
    def log_file(self, pod: dict, container: str | None, previous: bool) -> LogFile:
        """Where a container's log is (the log endpoint serves it), or a 400 as the kubelet says it."""
        name = pod["metadata"]["name"]
        names = [c["name"] for c in pod["spec"].get("containers") or []] + [
            c["name"] for c in pod["spec"].get("initContainers") or []
        ]
        if not container:
            if len(pod["spec"].get("containers") or []) != 1:
                raise bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                )
            container = names[0]
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {name}")
        run = self.runs.get(pod["metadata"]["uid"])
        c = None
        if run is not None:
            c = run.containers.get(container) or next((x for x in run.init_containers if x.name == container), None)
        if run is None or c is None or not c.log_path or not os.path.exists(c.log_path):
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
        if not previous:
            gen = c.gen
            return LogFile(c.log_path, lambda: c.gen == gen and c.proc is not None and not run.terminating)
        if not c.prev_log_path:
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return LogFile(c.prev_log_path, lambda: False)

    # ------------------------------------------------------------------ info
    async def info(self) -> list[dict]:
        out = []
        for run in self.runs.values():
            out.append(
                {
                    "namespace": run.ns,
                    "name": run.name,
                    "uid": run.uid,
                    "dir": run.dir,
                    "holderPid": run.holder_pid,
                    "netns": run.netns,
                    "mntns": run.mntns,
                    "pids": processes_in_netns(run.netns) if run.netns else [],
                    "containers": {n: (c.proc.pid if c.proc else None) for n, c in run.containers.items()},
                }
            )
        return out


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _expand(value: str, env: dict) -> str:
    import re

    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


class NullRuntime:
    """Used when pods cannot run on this machine: the API works, pods stay Pending."""

    def __init__(self, sb):
        self.sb = sb
        self.runs = {}

    async def info(self):
        return []

    async def shutdown(self):
        pass

    async def kill_pod_processes(self, ns, name, sig=9):
        return 0

    def exec_target(self, pod, container):
        raise bad_request(f"pods do not run in this sandbox: {namespace_support()}")

    def running(self, pod):
        return None

    async def open_socket(self, run, port):
        raise ConnectionRefusedError(111, "pods do not run in this sandbox")

    def nsenter_argv(self, run, container, workdir, argv):
        raise bad_request(f"pods do not run in this sandbox: {namespace_support()}")

    def log_file(self, pod, container, previous):
        raise bad_request(f"pods do not run in this sandbox: {namespace_support()}")


async def _reaped(proc: asyncio.subprocess.Process, timeout: float = 5) -> None:
    """Waits up to `timeout` for a killed process to be reaped."""
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        pass
