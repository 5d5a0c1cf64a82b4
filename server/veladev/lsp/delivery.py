"""Delivery commands: Deploy, Push & trigger, Promote, terminate and restart the workflow, the
workflow state, the Applications of namespaces (for a tree view), and the CI snippet.

Every command takes one object ({"uri", "namespace"?, "application"?, "component"?, "step"?}),
runs its blocking work in a worker thread under work-done progress, ends with one message
(information on success, error on failure) and returns {"ok", "message", ...}. A failure
never escapes as an exception: the server keeps running and nothing is left half done unsaid.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from ..cluster import ClusterError
from ..delivery.watch import state_json
from .commands import (
    CommandError,
    Feature,
    app_ref,
    command_arg,
    document_app,
    named_component,
    run_command,
    with_cluster,
)
from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.delivery")


class ShipFeature(Feature):
    """Deploy, Push & trigger and the CI snippet: from the Application file to the cluster."""

    def register(self) -> None:
        self.command("veladev.deploy", self.deploy)
        self.command("veladev.pushAndTrigger", self.push_and_trigger)
        self.command("veladev.writeCi", self.write_ci)

    async def deploy(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        def work(report):
            from ..delivery.deploy import deploy

            app, ns, name, _ = document_app(ls, command_arg(args))
            report(f"applying {ns}/{name}")
            result = with_cluster(ls, lambda api: deploy(api, app, ns))
            return {"message": result.summary(), "created": result.created, "changes": list(result.changes)}

        return await run_command(ls, "Deploy", work)

    async def push_and_trigger(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        def work(report):
            from ..delivery.pushtrigger import push_and_trigger, read_token

            a = command_arg(args)
            app, ns, name, path = document_app(ls, a)
            component = named_component(app, a)
            s = ls.settings
            if not s.imageTemplate:
                raise CommandError("set veladev.imageTemplate (e.g. registry.example.com/app:{short_commit}) first")
            token = read_token(token_file=s.velauxTokenFile) if s.velauxUrl else ""
            report("git push")

            def ship(api):
                return push_and_trigger(path.parent, api, ns, name, component, s.imageTemplate, s.velauxUrl, token)

            shipped = ship(None) if s.velauxUrl else with_cluster(ls, ship)
            return {
                "message": shipped.summary(),
                "image": shipped.image,
                "commit": shipped.pushed.commit,
                "via": shipped.via,
            }

        return await run_command(ls, "Push & trigger", work)

    async def write_ci(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        def work(report):
            from ..delivery.ci import write_ci

            a = command_arg(args)
            app, _, _, path = document_app(ls, a)
            component = named_component(app, a)
            template = ls.settings.imageTemplate or "registry.example.com/" + str(component) + ":{short_commit}"
            target = a.get("target") or "gitlab"
            written = write_ci(
                path.parent, target, component, template, a.get("branch") or "main", bool(a.get("overwrite"))
            )
            return {
                "message": f"wrote {written.name}; set the CI secret variable VELAUX_WEBHOOK_URL "
                f"to <VelaUX>/api/v1/webhook/<token>",
                "path": str(written),
            }

        return await run_command(ls, "Write CI snippet", work)


#: Workflow operations: (command, operation, title).
WORKFLOW_OPERATIONS = (
    ("veladev.promote", "resume", "Promote"),
    ("veladev.workflow.terminate", "terminate", "Terminate workflow"),
    ("veladev.workflow.restart", "restart", "Restart workflow"),
)


class WorkflowFeature(Feature):
    """Promote, terminate and restart the workflow, and the Application's status."""

    def register(self) -> None:
        for command, op, title in WORKFLOW_OPERATIONS:
            self.command(command, functools.partial(self.operate, op=op, title=title))
        self.command("veladev.status", self.status)

    async def operate(self, ls: VelaLanguageServer, *args, op: str, title: str) -> dict[str, Any]:
        def work(report):
            a = command_arg(args)
            ns, name = app_ref(ls, a)
            report(f"{op} {ns}/{name}")
            state, msg = with_cluster(ls, lambda api: _workflow_operation(api, op, ns, name, a.get("step")))
            return {"message": msg, "state": state_json(state)}

        return await run_command(ls, title, work)

    async def status(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        def work(report):
            from ..delivery.status import application_status, describe_status, status_json

            ns, name = app_ref(ls, command_arg(args))
            status = with_cluster(ls, lambda api: application_status(api, ns, name))
            return {
                "message": " | ".join(line.strip() for line in describe_status(status)),
                "state": state_json(status.workflow),
                "status": status_json(status),
            }

        return await run_command(ls, "Status", work)


def _workflow_operation(api, op: str, ns: str, name: str, step: str | None):
    """(state, message) after resume, terminate or restart."""
    from ..delivery import operations

    if op == "resume":
        return operations.resume(api, ns, name, step), f"promoted {ns}/{name}" + (f" (step {step})" if step else "")
    if op == "terminate":
        return operations.terminate(api, ns, name), f"terminated the workflow of {ns}/{name}"
    return operations.restart(api, ns, name), f"restarted the workflow of {ns}/{name}"


class ApplicationsFeature(Feature):
    """The Applications of namespaces for a tree view: phase, steps, each component's health
    per cluster and each deploy step's placements (quiet: a view polls this, so no message on
    success)."""

    def register(self) -> None:
        self.command("veladev.applications", self.applications)

    async def applications(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        a = args[0] if args and isinstance(args[0], dict) else {}
        namespaces = [n for n in a.get("namespaces") or ["default"] if isinstance(n, str)]

        def listing(api) -> dict[str, Any]:
            from ..delivery.status import applications_status, status_json

            out = []
            for status, app in applications_status(api, namespaces):
                comps = [c.get("name") for c in (app.get("spec") or {}).get("components") or [] if isinstance(c, dict)]
                out.append({**status_json(status), "components": comps})
            return {"applications": out}

        try:
            return {"ok": True, **await asyncio.to_thread(with_cluster, ls, listing)}
        except ClusterError as exc:
            return {"ok": False, "message": str(exc), "applications": []}


def register(server: VelaLanguageServer) -> None:
    for feature in (ShipFeature, WorkflowFeature, ApplicationsFeature):
        feature(server).register()
