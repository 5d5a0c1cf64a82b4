"""Workflow operations as KubeVela 1.9/1.10 performs them (kv:pkg/workflow/operation/operation.go@v1.10.9).

``kv:pkg/workflow/operation/operation.go``: change ``status.workflow`` in memory, then send
the whole Application as a JSON merge patch on the ``status`` subresource (the body carries
``metadata.resourceVersion``, so it is an optimistic-concurrency precondition). VelaUX calls
the same functions. These run on the sandbox loop against the store, through the same
merge-patch path the API server uses for ``PATCH .../status``.
"""

from __future__ import annotations

import copy

from .. import kinds
from ..patch import merge_patch


class OperationError(Exception):
    pass


def _kind():
    return kinds.lookup("core.oam.dev", "v1beta1", "applications")


def _patch_status(store, app: dict) -> dict:
    """``Status().Patch(ctx, app, client.Merge)``: the whole object as a merge patch on /status."""
    k = _kind()
    md = app["metadata"]
    current = store.get(k, md["namespace"], md["name"])
    new = merge_patch(current, app)
    return store.update(k, new, subresource="status", require_rv=True)


def _steps(wf: dict):
    for st in wf.get("steps") or []:
        yield st, None
        for sub in st.get("subSteps") or []:
            yield sub, st


def resume(store, namespace: str, name: str, step: str | None = None, cli_checks: bool = True) -> dict:
    """``ResumeWorkflow``: suspend=false, and each ``suspending`` step (or the named one) -> running.

    ``cli_checks``: refuse a terminated workflow as ``vela workflow resume`` does; VelaUX calls
    the low-level function without that check (ux:pkg/server/domain/service/workflow.go)."""
    app = store.get(_kind(), namespace, name)
    wf = (app.get("status") or {}).get("workflow")
    if not wf:
        raise OperationError("the workflow in application is not running")
    if cli_checks and wf.get("terminated"):
        raise OperationError("can not resume a terminated workflow")
    wf["suspend"] = False
    found = step is None
    for st, parent in _steps(wf):
        if step is not None and st.get("name") != step:
            continue
        found = True
        _resume_step(st, parent)
        if step is not None and parent is not None and parent.get("phase") == "suspending":
            parent["phase"] = "running"
    if not found:
        raise OperationError(f"can not find step {step}")
    return _patch_status(store, app)


def _resume_step(st: dict, parent: dict | None) -> None:
    """A suspending step runs again; for a top-level step (OperateSteps), so do its unfinished sub-steps."""
    if st.get("phase") != "suspending":
        return
    st["phase"] = "running"
    if parent is None:
        for sub in st.get("subSteps") or []:
            if sub.get("phase") not in ("succeeded", "failed", "skipped"):
                sub["phase"] = "running"


def suspend(store, namespace: str, name: str, step: str | None = None) -> dict:
    app = store.get(_kind(), namespace, name)
    wf = (app.get("status") or {}).get("workflow")
    if not wf:
        raise OperationError("the workflow in application is not running")
    wf["suspend"] = True
    for st, _ in _steps(wf):
        if (step is None or st.get("name") == step) and st.get("phase") == "running":
            st["phase"] = "suspending"
    return _patch_status(store, app)


def terminate(store, namespace: str, name: str) -> dict:
    """terminated=true, suspend=false; running/suspending steps -> failed/Terminate."""
    app = store.get(_kind(), namespace, name)
    wf = (app.get("status") or {}).get("workflow")
    if not wf:
        raise OperationError("the workflow in application is not running")
    wf["terminated"] = True
    wf["suspend"] = False
    for st, _ in _steps(wf):
        if st.get("phase") in ("running", "suspending"):
            st["phase"] = "failed"
            st["reason"] = "Terminate"
        elif st.get("phase") == "failed" and st.get("reason") not in ("FailedAfterRetries", "Timeout"):
            st["reason"] = "Terminate"
    return _patch_status(store, app)


def restart(store, namespace: str, name: str) -> dict:
    """``status.workflow = nil`` with ``Status().Update`` (a PUT on /status)."""
    k = _kind()
    app = store.get(k, namespace, name)
    app = copy.deepcopy(app)
    (app.setdefault("status", {})).pop("workflow", None)
    return store.update(k, app, subresource="status", require_rv=True)
