"""`git push` of the current branch with real git, and errors a developer can act on.

Git never prompts (GIT_TERMINAL_PROMPT=0, no askpass): a missing credential is an error, not a
hang. Remote URLs can carry credentials (https://user:token@host/...), so every message shown
passes through `redact`.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


class PushError(Exception):
    """The push did not happen; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Pushed:
    commit: str
    branch: str
    remote: str
    upstream: str  # remote/branch
    user: str
    pushed: bool  # False when the remote already had the commit and no push was wanted

    @property
    def short_commit(self) -> str:
        return self.commit[:7]


_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """Text with the user:password part of every URL replaced."""
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + "***@", text)


def _git(repo: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GCM_INTERACTIVE": "never",
        "LC_ALL": "C",
        # ssh must not ask either (host keys, passphrases).
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    }
    env.pop("SSH_ASKPASS", None)
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise PushError("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise PushError(
            f"git {args[0]} did not finish within {timeout:.0f}s; check the network and the remote"
        ) from None


def _out(repo: Path, *args: str) -> str | None:
    r = _git(repo, *args)
    return r.stdout.strip() if r.returncode == 0 else None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("hint:")]
    return redact(lines[-1] if lines else "no output")


def explain_push_failure(stderr: str, upstream: str) -> str:
    low = stderr.lower()
    if any(
        p in low
        for p in (
            "authentication failed",
            "could not read username",
            "could not read password",
            "permission denied (publickey",
            "invalid username or password",
            "the requested url returned error: 401",
            "the requested url returned error: 403",
        )
    ):
        return (
            f"authentication failed pushing to {upstream}: git has no working credentials for the remote "
            f"(set up a credential helper or an SSH key; veladev never prompts)"
        )
    if "[rejected]" in low and ("fetch first" in low or "non-fast-forward" in low):
        return (
            f"the remote rejected the push to {upstream}: it has commits you do not have "
            f"(pull or rebase, then push again)"
        )
    if "[remote rejected]" in low or "pre-receive hook declined" in low or "protected branch" in low:
        return f"the remote rejected the push to {upstream}: {_first_line(stderr)}"
    if "could not resolve host" in low or "connection refused" in low or "unable to access" in low:
        return f"cannot reach the remote of {upstream}: {_first_line(stderr)}"
    return f"git push to {upstream} failed: {_first_line(stderr)}"


def push_current_branch(repo: Path, push: bool = True) -> Pushed:
    """Push HEAD's branch to its upstream; with push=False only check that the upstream has it."""
    repo = Path(repo)
    if not repo.is_dir():
        raise PushError(f"{repo} is not a folder")
    top = _out(repo, "rev-parse", "--show-toplevel")
    if top is None:
        raise PushError(f"{repo} is not in a git repository; run `git init` and add a remote first")
    branch = _out(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
    if not branch:
        raise PushError("HEAD is detached (no branch checked out); check out the branch to push")
    commit = _out(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    if not commit:
        raise PushError(f"branch {branch} has no commits yet; commit first")
    upstream = _out(repo, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    remote = _out(repo, "config", f"branch.{branch}.remote")
    if not upstream or not remote:
        remotes = (_out(repo, "remote") or "").split()
        hint = (
            f"run `git push -u {remotes[0]} {branch}` once"
            if remotes
            else "add a remote (`git remote add origin URL`) and push with -u once"
        )
        raise PushError(f"branch {branch} has no upstream branch; {hint}")
    user = _out(repo, "config", "user.name") or _out(repo, "log", "-1", "--format=%an") or ""
    dirty = _out(repo, "status", "--porcelain", "--untracked-files=no")

    if push:
        _push_to_upstream(repo, branch, commit, remote, upstream, bool(dirty))
        return Pushed(commit, branch, remote, upstream, user, True)

    contains = _git(repo, "branch", "-r", "--contains", commit)
    if contains.returncode != 0 or upstream not in contains.stdout.split():
        raise PushError(f"{upstream} does not have {commit[:7]} yet; push it first")
    return Pushed(commit, branch, remote, upstream, user, False)


def _push_to_upstream(repo: Path, branch: str, commit: str, remote: str, upstream: str, dirty: bool) -> None:
    """git push HEAD to the upstream branch; PushError when there is nothing to push or it fails."""
    # What the remote has now: a stale remote-tracking ref must not hide a push to make.
    remote_branch = upstream.split("/", 1)[1] if "/" in upstream else branch
    probe = _git(repo, "ls-remote", "--heads", remote, remote_branch)
    if probe.returncode != 0:
        raise PushError(explain_push_failure(probe.stderr, upstream))
    remote_head = probe.stdout.split()[0] if probe.stdout.strip() else ""
    if remote_head == commit:
        note = " (uncommitted changes are not pushed: commit them first)" if dirty else ""
        raise PushError(
            f"nothing to push: {upstream} already has {commit[:7]}{note}; "
            f"commit a change, or trigger the pushed commit without pushing"
        )
    r = _git(repo, "push", "--porcelain", remote, f"HEAD:refs/heads/{remote_branch}")
    if r.returncode != 0:
        raise PushError(explain_push_failure(r.stderr + "\n" + r.stdout, upstream))
