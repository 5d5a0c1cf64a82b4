"""Image resolution without image layers.

An image is *files + entrypoint + env*:

* **Registry images** live in ``<state>/registry/images/<escaped ref>/`` as ``image.json``
  (``{"entrypoint": [...], "cmd": [...], "env": {...}, "workingDir": "/app"}``) plus a
  ``files/`` directory that becomes the container's working directory.
  Add them with :meth:`ImageRegistry.add_image` or ``velasandbox add-image``.
* **Nocalhost dev images** (``nocalhost-docker.pkg.coding.net/nocalhost/dev-images/<lang>:<tag>``
  and the trait's aliases ``go java python node ruby``) resolve to the host toolchain with an
  empty working directory (default ``/home/nocalhost-dev``) and ``sleep infinity`` as command.
* ``sandbox.local/<repo>:<commit>`` resolves to that commit's tree of a git repository
  registered with :meth:`ImageRegistry.register_repo` (``velasandbox register-repo NAME PATH``).
  An optional ``.velasandbox-image.json`` in the tree gives entrypoint/cmd/env/workingDir
  (default workingDir ``/app``).
* ``sandbox.local/toolchain`` is the host toolchain with no files.

Anything else is unknown: the pod gets ``ErrImagePull`` / ``ImagePullBackOff``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

NOCALHOST_PREFIX = "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/"
NOCALHOST_ALIASES = {"go": "golang", "java": "java", "python": "python", "node": "node", "ruby": "ruby"}
NOCALHOST_WORKDIR = "/home/nocalhost-dev"


@dataclass
class Image:
    ref: str
    source: str  # "registry" | "host" | "git"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    files_dir: str | None = None  # registry: directory copied into the working dir
    repo: str | None = None  # git: repository path
    commit: str | None = None  # git: full commit id

    @property
    def image_id(self) -> str:
        if self.source == "git":
            return f"sandbox.local/git@{self.commit}"
        return f"velasandbox://{self.source}/{self.ref}"

    def materialize(self, dest: str):
        """Copy the image's files into ``dest`` (an empty directory)."""
        if self.source == "registry" and self.files_dir and os.path.isdir(self.files_dir):
            shutil.copytree(self.files_dir, dest, dirs_exist_ok=True, symlinks=True)
        elif self.source == "git" and self.repo and self.commit:
            arch = subprocess.run(
                ["git", "-C", self.repo, "archive", "--format=tar", self.commit], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", dest], input=arch, check=True, capture_output=True)


def _escape(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref)


def normalize(ref: str) -> str:
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        ref += ":latest"
    return ref


class ImageRegistry:
    def __init__(self, root: str):
        self.root = root
        os.makedirs(os.path.join(root, "images"), exist_ok=True)

    # ------------------------------------------------------------------ registry images
    def add_image(
        self,
        ref: str,
        files: dict[str, str | bytes] | str | None = None,
        entrypoint: list[str] | None = None,
        cmd: list[str] | None = None,
        env: dict[str, str] | None = None,
        working_dir: str = "/app",
    ):
        """Register an image. ``files`` is a {relative path: content} dict or a directory."""
        ref = normalize(ref)
        d = os.path.join(self.root, "images", _escape(ref))
        tmp = tempfile.mkdtemp(dir=os.path.join(self.root, "images"))
        fd = os.path.join(tmp, "files")
        os.makedirs(fd)
        if isinstance(files, str):
            shutil.copytree(files, fd, dirs_exist_ok=True, symlinks=True)
        elif files:
            for rel, content in files.items():
                p = os.path.join(fd, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.write(content.encode() if isinstance(content, str) else content)
        with open(os.path.join(tmp, "image.json"), "w") as f:
            json.dump(
                {
                    "ref": ref,
                    "entrypoint": entrypoint or [],
                    "cmd": cmd or [],
                    "env": env or {},
                    "workingDir": working_dir,
                },
                f,
            )
        if os.path.exists(d):
            shutil.rmtree(d)
        os.replace(tmp, d)
        return ref

    # ------------------------------------------------------------------ git repos
    def _repos_file(self):
        return os.path.join(self.root, "repos.json")

    def repos(self) -> dict[str, str]:
        try:
            with open(self._repos_file()) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def register_repo(self, name: str, path: str):
        path = os.path.abspath(path)
        subprocess.run(["git", "-C", path, "rev-parse", "--git-dir"], check=True, capture_output=True)
        repos = self.repos()
        repos[name] = path
        tmp = self._repos_file() + ".tmp"
        with open(tmp, "w") as f:
            json.dump(repos, f)
        os.replace(tmp, self._repos_file())

    # ------------------------------------------------------------------ resolution
    def resolve(self, ref: str) -> Image | None:
        if not ref:
            return None
        bare = ref.split("@", 1)[0]
        name, _, tag = bare.rpartition(":") if ":" in bare.rsplit("/", 1)[-1] else (bare, "", "latest")
        if name.startswith(NOCALHOST_PREFIX) or (name in NOCALHOST_ALIASES and tag == "latest"):
            return Image(ref, "host", cmd=["sleep", "infinity"], working_dir=NOCALHOST_WORKDIR)
        if name == "sandbox.local/toolchain":
            return Image(ref, "host", cmd=["sleep", "infinity"], working_dir="/")
        if name.startswith("sandbox.local/"):
            repo = name[len("sandbox.local/") :]
            path = self.repos().get(repo)
            if not path or not tag:
                return None
            r = subprocess.run(
                ["git", "-C", path, "rev-parse", "--verify", "-q", f"{tag}^{{commit}}"], capture_output=True, text=True
            )
            if r.returncode != 0:
                return None
            commit = r.stdout.strip()
            cfg = {}
            c = subprocess.run(
                ["git", "-C", path, "show", f"{commit}:.velasandbox-image.json"], capture_output=True, text=True
            )
            if c.returncode == 0:
                try:
                    cfg = json.loads(c.stdout)
                except ValueError:
                    cfg = {}
            return Image(
                ref,
                "git",
                entrypoint=cfg.get("entrypoint") or [],
                cmd=cfg.get("cmd") or [],
                env=cfg.get("env") or {},
                working_dir=cfg.get("workingDir") or "/app",
                repo=path,
                commit=commit,
            )
        d = os.path.join(self.root, "images", _escape(normalize(ref)))
        meta = os.path.join(d, "image.json")
        if os.path.exists(meta):
            with open(meta) as f:
                m = json.load(f)
            return Image(
                ref,
                "registry",
                entrypoint=m.get("entrypoint") or [],
                cmd=m.get("cmd") or [],
                env=m.get("env") or {},
                working_dir=m.get("workingDir") or "/app",
                files_dir=os.path.join(d, "files"),
            )
        return None
