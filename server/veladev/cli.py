"""`veladev`: the language server and the same operations from a terminal."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.parse
from pathlib import Path

from . import __version__

YAML_SUFFIXES = (".yaml", ".yml")

#: The path that stands for standard input, as in most command-line tools.
STDIN = "-"


class UsageError(Exception):
    """A mistake in the command line: one sentence, exit code 2."""


def _iter_files(targets: list[str]) -> list[Path]:
    files: list[Path] = []
    for t in targets:
        p = Path(t)
        if t != STDIN and p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in YAML_SUFFIXES and f.is_file())
            if not found:
                raise UsageError(f"no .yaml or .yml files under {t}")
            files.extend(found)
        else:
            files.append(p)
    return files


def _read(path: Path) -> str:
    if str(path) == STDIN:
        return sys.stdin.buffer.read().decode("utf-8")
    return path.read_text(encoding="utf-8")


def _why_unreadable(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    return exc.strerror or type(exc).__name__


def cmd_check(args: argparse.Namespace) -> int:
    from .appmodel.findings import Finding, Severity
    from .appmodel.validate import check_text
    from .catalog import bundled_catalog

    catalog = bundled_catalog()
    if args.kubeconfig:
        # With a cluster: its definitions, and topology policies against its registered clusters.
        from .catalog.live import load_live_catalog
        from .cluster import ClusterConfig

        catalog = load_live_catalog(catalog, ClusterConfig(args.kubeconfig, args.context or ""))
    results: list[tuple[str, list[Finding] | None, str | None]] = []
    errors = 0
    for path in _iter_files(args.paths):
        name = "<stdin>" if str(path) == STDIN else str(path)
        try:
            text = _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = _why_unreadable(exc)
            print(f"{name}: cannot read: {reason}", file=sys.stderr)
            errors += 1
            results.append((name, None, f"cannot read: {reason}"))
            continue
        findings = check_text(text, catalog)
        errors += sum(1 for f in findings if f.severity == Severity.ERROR)
        results.append((name, findings, None))
    if args.format == "json":
        json.dump(
            [
                {"path": p, "findings": [f.to_json() for f in fs or ()], **({"error": e} if e else {})}
                for p, fs, e in results
            ],
            sys.stdout,
            indent=2,
        )
        print()
    else:
        for name, file_findings, _ in results:
            for f in file_findings or ():
                print(f.format(name))
        n = sum(len(fs or ()) for _, fs, _ in results)
        print(f"{len(results)} file(s) checked, {n} finding(s), {errors} error(s)", file=sys.stderr)
    return 1 if errors else 0


def cmd_lsp(args: argparse.Namespace) -> int:
    import logging

    from .lsp.server import build_server

    # stdout carries the protocol; the log goes to stderr, which editors show as the server log.
    level = getattr(logging, args.log_level.upper())
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pygls logs every message it sends at INFO (megabytes for one large outline): only its
    # warnings, unless the whole exchange is asked for.
    logging.getLogger("pygls").setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))

    server = build_server()
    if args.tcp:
        host, port = args.tcp
        server.start_tcp(host, port)
    else:
        server.start_io()
    return 0


def _cluster(args: argparse.Namespace):
    from .cluster import ClusterConfig, connect

    return connect(ClusterConfig(args.kubeconfig or "", args.context or ""))


#: Kubernetes object names: a namespace is an RFC 1123 label, an Application name a subdomain.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _app_ref(ref: str) -> tuple[str, str]:
    """NAMESPACE/NAME (or NAME, in namespace default), as argparse's type for the argument."""
    ns, slash, name = ref.rpartition("/")
    ns = ns if slash else "default"
    if not _DNS_LABEL.fullmatch(ns) or not _DNS_SUBDOMAIN.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"{ref!r} is not NAMESPACE/NAME or NAME (lowercase letters, digits and '-', e.g. default/frontend)"
        )
    return ns, name


def _host_port(value: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not HOST:PORT with a port between 1 and 65535 (e.g. 127.0.0.1:2087)"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def _http_url(value: str) -> str:
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number in range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not echoed: a URL may carry a password.
        raise argparse.ArgumentTypeError("not an http:// or https:// address (e.g. http://127.0.0.1:8000)")
    return value


def cmd_status(args: argparse.Namespace) -> int:
    from .cluster.apps import get_application
    from .delivery.status import application_status, describe_status, status_json
    from .delivery.watch import watch_status

    ns, name = args.app
    api = _cluster(args)
    try:
        if not args.watch:
            status = application_status(api, ns, name)
            if args.format == "json":
                print(json.dumps(status_json(status), indent=2))
            else:
                print("\n".join(describe_status(status)))
            return 0
        get_application(api, ns, name)  # a clear "not found" before waiting on a watch
        import time

        deadline = time.monotonic() + args.timeout if args.timeout else None

        def show(status) -> None:
            print(f"--- {time.strftime('%H:%M:%S')}")
            print("\n".join(describe_status(status, ns, name)), flush=True)

        watch_status(api, ns, name, show, lambda: deadline is not None and time.monotonic() > deadline)
    finally:
        api.close()
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    args.operation = "resume"
    return cmd_workflow(args)


def cmd_workflow(args: argparse.Namespace) -> int:
    from .delivery import operations

    ns, name = args.app
    api = _cluster(args)
    try:
        if args.operation == "resume":
            state = operations.resume(api, ns, name, args.step)
            print(f"{ns}/{name}: resumed; workflow {state.run_status or 'running'}")
        elif args.operation == "terminate":
            state = operations.terminate(api, ns, name)
            print(f"{ns}/{name}: terminated; workflow {state.run_status or 'terminated'}")
        else:
            operations.restart(api, ns, name)
            print(f"{ns}/{name}: workflow restarted from the first step")
    finally:
        api.close()
    return 0


def _read_app_file(path: str) -> dict:
    from .delivery.deploy import application_from_text

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return application_from_text(text)


def cmd_deploy(args: argparse.Namespace) -> int:
    from .delivery.deploy import deploy

    app = _read_app_file(args.file)
    api = _cluster(args)
    try:
        result = deploy(api, app, args.namespace)
    finally:
        api.close()
    print(
        result.summary()
        if not result.changes
        else f"updated application {result.namespace}/{result.name}:\n" + "\n".join(f"  {c}" for c in result.changes)
    )
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    """`veladev logs FILE`: a component's pod log in one of its placements (through the hub)."""
    from .cluster import ClusterConfig
    from .cluster.apps import get_application
    from .delivery.logs import FOLLOW_TAIL, stream_logs

    app = _read_app_file(args.file)
    component = _component(app, args.component)
    ns = app["metadata"].get("namespace") or "default"
    api = _cluster(args)
    try:
        hub_app = get_application(api, ns, app["metadata"]["name"])
    finally:
        api.close()

    def shown(source, _close) -> None:
        print(f"[{source.placement} pod {source.pod}]", file=sys.stderr, flush=True)

    stream_logs(
        ClusterConfig(args.kubeconfig or "", args.context or ""),
        hub_app,
        component,
        _write,
        args.cluster,
        args.namespace,
        args.follow,
        on_open=shown,
        tail_lines=FOLLOW_TAIL if args.follow else None,  # as `kubectl logs`: all, or the last lines and on
    )
    return 0


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _component(app: dict, wanted: str | None) -> str:
    comps = [c.get("name") for c in (app.get("spec") or {}).get("components") or [] if isinstance(c, dict)]
    if wanted:
        if wanted not in comps:
            raise UsageError(
                f"the Application has no component {wanted} (it has: {', '.join(map(str, comps)) or 'none'})"
            )
        return wanted
    if len(comps) != 1:
        raise UsageError(f"the Application has {len(comps)} components; name one with --component")
    if not isinstance(comps[0], str):
        raise UsageError("the Application's only component has no name")
    return comps[0]


def cmd_push(args: argparse.Namespace) -> int:
    from .delivery.pushtrigger import check_image_template, push_and_trigger, read_token
    from .delivery.trigger import TriggerError

    try:
        check_image_template(args.image_template)
    except TriggerError as exc:
        raise UsageError(str(exc)) from None
    app = _read_app_file(args.file)
    component = _component(app, args.component)
    ns = args.namespace or app["metadata"].get("namespace") or "default"
    token = read_token(args.token_env, args.token_file) if args.velaux else ""
    api = None if args.velaux else _cluster(args)
    try:
        shipped = push_and_trigger(
            Path(args.repo or Path(args.file).resolve().parent),
            api,
            ns,
            app["metadata"]["name"],
            component,
            args.image_template,
            args.velaux or "",
            token,
            push=not args.no_push,
        )
    finally:
        if api is not None:
            api.close()
    print(shipped.summary())
    return 0


def cmd_ci(args: argparse.Namespace) -> int:
    from .delivery.ci import write_ci

    app = _read_app_file(args.file)
    component = _component(app, args.component)
    repo = Path(args.repo or Path(args.file).resolve().parent)
    path = write_ci(repo, args.target, component, args.image_template, args.branch, args.overwrite)
    print(f"wrote {path}; set the CI secret variable VELAUX_WEBHOOK_URL to <VelaUX>/api/v1/webhook/<token>")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    from .delivery.trigger import trigger_webhook

    token = os.environ.get(args.token_env, "")
    if not token:
        print(
            f"veladev trigger: set the VelaUX trigger token in ${args.token_env} (it is a secret, so not an argument)",
            file=sys.stderr,
        )
        return 2
    upgrade = {args.component: {"image": args.image}}
    code = {k: v for k, v in (("commit", args.commit), ("branch", args.branch), ("user", args.user)) if v}
    result = trigger_webhook(args.velaux, token, upgrade, code or None)
    print(f"triggered {result.get('workflowName', '')}: version {result.get('version', '')}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: the seed's delivery flow on a local sandbox cluster."""
    from . import demo

    if args.app:
        _check_demo_app(Path(args.app))
    return demo.run(Path(args.app) if args.app else None, keep=args.keep, clusters=args.clusters)


def _dev_connect_to(args: argparse.Namespace):
    """Clients for managed clusters: a context named like the cluster, else the hub's gateway."""
    from .cluster import ClusterConfig
    from .cluster.clusters import connect_cluster

    config = ClusterConfig(args.kubeconfig or "", args.context or "")
    return lambda cluster: connect_cluster(config, cluster)


def _dev_session(args: argparse.Namespace, api, **callbacks):
    from .devmode.session import DevSession

    return DevSession(
        api,
        Path(args.app_file),
        args.component,
        args.namespace,
        Path(args.dir) if args.dir else None,
        cluster=args.cluster,
        connect_to=_dev_connect_to(args),
        **callbacks,
    )


def _dev_progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _dev_status(args: argparse.Namespace, api) -> int:
    """Every workload in dev mode, on the hub and in each registered cluster."""
    from .devmode.workload import dev_workloads_everywhere

    rows, unreachable = dev_workloads_everywhere(api, _dev_connect_to(args))
    if not rows:
        print("no workload is in dev mode")
    for r in rows:
        s = r.state
        print(
            f"{r.ref.cluster}: {r.ref.namespace}/{r.ref.name} ({r.ref.kind}): application {s.app_namespace}/{s.app} "
            f"component {s.component}, held by {s.holder} since {s.since}"
        )
    for cluster, why in unreachable.items():
        print(f"{cluster}: unreachable ({why})")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """`veladev dev VERB`: the dev-mode engine from a terminal."""
    from .devmode.errors import PlacementChoice

    if args.verb != "status" and not Path(args.app_file).is_file():
        print(f"veladev dev {args.verb}: no Application file at {args.app_file}", file=sys.stderr)
        return 2
    api = _cluster(args)
    try:
        if args.verb == "status":
            return _dev_status(args, api)
        try:
            session = _dev_session(args, api, on_output=_print_output)
        except PlacementChoice as exc:
            raise UsageError(str(exc)) from None
        try:
            return _dev_verb(args, session)
        finally:
            session.close()
    finally:
        api.close()


def _dev_verb(args: argparse.Namespace, session) -> int:
    if args.verb == "start":
        pod = session.start(takeover=args.takeover, progress=_dev_progress)
        print(f"dev mode on: {session.workload.ref}, dev pod {pod.name} (work dir {pod.work_dir})")
        return 0
    if args.verb == "end":
        session.end(takeover=args.takeover, progress=_dev_progress)
        print(f"dev mode ended: {session.workload.ref} is restored")
        return 0
    if args.verb == "terminal":
        from .devmode.remote import terminal

        session.require_on()
        return terminal(session.api, session.workload.resolver()(60), session.cfg.shell)
    return _dev_foreground(args, session)


def _dev_foreground(args: argparse.Namespace, session) -> int:
    """up: work until Ctrl-C; run / debug: until the command ends (its exit code) or Ctrl-C.
    Ctrl-C leaves the workload in dev mode."""
    import threading

    stop = threading.Event()
    exit_code: list[int | None] = []

    def ended(code: int | None) -> None:
        exit_code.append(code)
        stop.set()

    try:
        if args.verb == "up":
            forwards = session.up(
                takeover=args.takeover,
                progress=_dev_progress,
                on_batch=lambda b: print(f"[sync] {_batch_text(b)}", flush=True),
            )
            for f in forwards:
                print(f"[forward] {f}", flush=True)
        else:
            session.require_on()
        debug = args.verb == "debug" or getattr(args, "debug", False)
        if debug or args.verb == "run" or getattr(args, "run", False):
            # Under `up` the run restarts on hot reload: only `run`/`debug` end with it.
            attach = session.run(debug=debug, on_exit=ended if args.verb != "up" else None)
            if attach is not None:
                print(f"[debug] attach with: {json.dumps(attach)}", flush=True)
        print(
            "[dev] running; Ctrl-C stops here and leaves the workload in dev mode (`veladev dev end` restores it)",
            flush=True,
        )
        stop.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        session.stop()
    code = exit_code[0] if exit_code else 0
    if code is None:
        print(
            f"veladev dev {args.verb}: lost the connection to the dev pod; the command may still run there "
            "(`veladev dev end` stops everything)",
            file=sys.stderr,
        )
        return 1
    return code


def _print_output(text: str) -> None:
    print(text, end="" if text.endswith("\n") else "\n", flush=True)


def _batch_text(batch) -> str:
    """One line per synced batch: what went each way, and conflicts kept side by side."""
    parts = [f"sent {len(batch.sent)} file(s), deleted {len(batch.deleted)}"]
    if batch.received:
        parts.append(f"received {len(batch.received)}")
    if batch.conflicts:
        parts.append(f"conflicts kept beside the local files: {', '.join(batch.conflicts)}")
    return ("initial sync: " if batch.full else "") + "; ".join(parts)


def _check_demo_app(path: Path) -> None:
    """The demo deploys the file's Application: refuse, before a sandbox starts, a file without one."""
    from .appmodel.model import is_application, read_model
    from .appmodel.yamldoc import parse

    if path.exists() and not path.is_file():
        # a pipe such as <(...) could be read only once, and the demo reads the file at several steps
        raise UsageError(f"--app {path} must be a regular file (the demo reads it more than once)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --app {path}: {_why_unreadable(exc)}") from None
    parsed = parse(text)
    if parsed.error is not None:
        return  # the demo's check step shows the syntax error at its line
    apps = [d.value for d in parsed.documents if is_application(d.value)]
    model = read_model(apps[0]) if len(apps) == 1 and len(parsed.documents) == 1 else None
    if model is None or not model.name or not model.components or not model.components[0].name:
        raise UsageError(
            f"--app {path} must hold one KubeVela Application (apiVersion: core.oam.dev/v1beta1, "
            "kind: Application) with metadata.name and a named component"
        )


class OneLineErrorParser(argparse.ArgumentParser):
    """A usage error is one line (what is wrong, and where help is), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(prog="veladev", description="Editor tooling for KubeVela Applications")
    parser.add_argument("--version", action="version", version=f"veladev {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrorParser)

    p: argparse.ArgumentParser = sub.add_parser(
        "check", help="validate Application YAML files (exit 1 when any error is found)"
    )
    p.add_argument("paths", nargs="+", help="files or directories (- reads standard input)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--kubeconfig",
        help="check against this cluster: its definitions, and topology policies against the hub's registered "
        "clusters (default: the bundled KubeVela definitions, no cluster)",
    )
    p.add_argument("--context", help="with --kubeconfig: the context to use (default: the current one)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("lsp", help="run the language server (stdio by default)")
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    p.add_argument("--tcp", metavar="HOST:PORT", type=_host_port, help="listen on a TCP port instead")
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="what the server logs to stderr (default: warning; debug includes every message)",
    )
    p.set_defaults(func=cmd_lsp)

    p = sub.add_parser("demo", help="the main job: check, deploy, trigger and promote the example on a local sandbox")
    p.add_argument("--app", help="Application file to use instead of the example")
    p.add_argument("--keep", action="store_true", help="keep the sandbox running at the end (Ctrl-C stops it)")
    p.add_argument(
        "--clusters",
        action="store_true",
        help="a hub with managed clusters edge-1 (test), edge-2 and edge-3 (prod), reached through its gateway",
    )
    p.set_defaults(func=cmd_demo)

    def cluster_parser(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
        p.add_argument("--context", help="kubeconfig context (default: the current one)")
        return p

    p = cluster_parser(
        "status",
        "show an Application's phase, each workflow step's state, each component's health per cluster and "
        "each deploy step's placements",
    )
    p.add_argument("app", type=_app_ref, help="NAMESPACE/NAME (namespace default: default)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="without --watch: text or JSON")
    p.add_argument("--watch", "-w", action="store_true", help="keep printing the state each time it changes")
    p.add_argument("--timeout", type=float, default=0, help="with --watch: stop after this many seconds (0: never)")
    p.set_defaults(func=cmd_status)

    p = cluster_parser("workflow", "resume, terminate or restart the workflow (as `vela workflow ...`)")
    p.add_argument("operation", choices=("resume", "terminate", "restart"))
    p.add_argument("app", type=_app_ref, help="NAMESPACE/NAME (namespace default: default)")
    p.add_argument("--step", help="resume: only this suspended step")
    p.set_defaults(func=cmd_workflow)

    p = cluster_parser("deploy", "create or update the Application from a file (as `vela up -f`) and say what changed")
    p.add_argument("file", help="Application YAML file")
    p.add_argument("--namespace", "-n", help="namespace (default: the file's, else default)")
    p.set_defaults(func=cmd_deploy)

    p = cluster_parser("push", "git push the current branch, then move the component to the pushed commit's image")
    p.add_argument("file", help="Application YAML file")
    p.add_argument("--component", help="component to upgrade (default: the only one)")
    p.add_argument("--namespace", "-n", help="namespace of the Application (default: the file's)")
    p.add_argument(
        "--image-template",
        required=True,
        help="image of the pushed commit: {commit} {short_commit} {branch} {component}",
    )
    p.add_argument("--repo", help="git repository (default: the file's folder)")
    p.add_argument("--velaux", help="VelaUX address: trigger through its webhook instead of patching the Application")
    p.add_argument("--token-env", default="VELAUX_TRIGGER_TOKEN", help="environment variable holding the trigger token")
    p.add_argument("--token-file", default="", help="file holding the trigger token (when the variable is unset)")
    p.add_argument(
        "--no-push", action="store_true", help="trigger the commit the upstream already has, without pushing"
    )
    p.set_defaults(func=cmd_push)

    p = cluster_parser("logs", "print a component's pod log in one of its clusters (through the hub)")
    p.add_argument("file", help="Application YAML file")
    p.add_argument("--component", help="component (default: the only one)")
    p.add_argument("--cluster", help="cluster of the placement (needed when the component runs in several)")
    p.add_argument("--namespace", "-n", help="namespace of the placement (when it runs in several in one cluster)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("ci", help="write a CI job that calls the VelaUX trigger after a push")
    p.add_argument("target", choices=("gitlab", "github"))
    p.add_argument("file", help="Application YAML file")
    p.add_argument("--component", help="component to upgrade (default: the only one)")
    p.add_argument(
        "--image-template",
        required=True,
        help="image of the built commit: {commit} {short_commit} {branch} {component}",
    )
    p.add_argument("--repo", help="repository to write into (default: the file's folder)")
    p.add_argument("--branch", default="main", help="branch that triggers (GitHub Actions)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_ci)

    p = cluster_parser("promote", "resume the suspended workflow (as `vela workflow resume`)")
    p.add_argument("app", type=_app_ref, help="NAMESPACE/NAME (namespace default: default)")
    p.add_argument("--step", help="resume only this suspended step")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("trigger", help="trigger the workflow through VelaUX's webhook with a new image")
    p.add_argument("--velaux", required=True, type=_http_url, help="VelaUX address, e.g. http://127.0.0.1:8000")
    p.add_argument("--token-env", default="VELAUX_TRIGGER_TOKEN", help="environment variable holding the token")
    p.add_argument("--component", required=True, help="component to upgrade")
    p.add_argument("--image", required=True, help="new image of the component")
    p.add_argument("--commit")
    p.add_argument("--branch")
    p.add_argument("--user")
    p.set_defaults(func=cmd_trigger)

    _add_dev_parser(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:
        print(f"veladev {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Errors meant for the user are printed plainly. Anything else is a bug, shown as its
        # type only: its text may quote a token or a kubeconfig; VELADEV_DEBUG=1 shows it all.
        code = _user_error_exit(args, exc)
        if code is not None:
            return code
        if os.environ.get("VELADEV_DEBUG"):
            raise
        print(
            f"veladev {args.command}: internal error ({type(exc).__name__}); "
            "run with VELADEV_DEBUG=1 to see the traceback",
            file=sys.stderr,
        )
        return 1


def _user_error_exit(args: argparse.Namespace, exc: Exception) -> int | None:
    """Print an error meant for the user and return the exit code; None for anything else."""
    # Imported here so that `veladev lsp` does not pay for the cluster modules.
    from .cluster import ClusterError, NoKubeconfig
    from .delivery.ci import CiError
    from .delivery.deploy import DeployError
    from .delivery.gitpush import PushError
    from .delivery.logs import LogsError, PlacementNeeded
    from .delivery.trigger import TriggerError
    from .delivery.workflow import WorkflowError
    from .devmode.errors import DevModeError

    verb = f" {args.verb}" if args.command == "dev" else ""
    if isinstance(exc, (DeployError, CiError, PlacementNeeded)):
        print(f"veladev {args.command}{verb}: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, (ClusterError, TriggerError, WorkflowError, PushError, DevModeError, LogsError)):
        hint = "; pass --kubeconfig FILE or set KUBECONFIG" if isinstance(exc, NoKubeconfig) else ""
        print(f"veladev {args.command}{verb}: {exc}{hint}", file=sys.stderr)
        return 1
    return None


def _add_dev_parser(sub: argparse._SubParsersAction[OneLineErrorParser]) -> None:
    p = sub.add_parser("dev", help="dev mode: develop a component live in the cluster, then restore it exactly")
    verbs = p.add_subparsers(dest="verb", required=True)
    for verb, text in (
        ("start", "swap the component to its dev container and wait until it is Ready"),
        ("up", "start if needed, then sync files and forward ports until Ctrl-C (dev mode stays on)"),
        ("run", "run the dev config's command.run in the dev container until Ctrl-C"),
        ("debug", "run command.debug, forward the debug port and print the attach configuration"),
        ("terminal", "an interactive shell in the dev container"),
        ("end", "restore the workload exactly as it was and resume the Application"),
        ("status", "list every workload in dev mode on the hub and in its managed clusters"),
    ):
        v = verbs.add_parser(verb, help=text)
        v.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
        v.add_argument("--context", help="kubeconfig context (default: the current one)")
        if verb == "status":
            continue
        v.add_argument("app_file", metavar="APP_FILE", help="the Application YAML file")
        v.add_argument(
            "component",
            metavar="COMPONENT",
            nargs="?",
            help="component to develop (default: the one with the nocalhost trait)",
        )
        v.add_argument(
            "--cluster",
            help="the managed cluster where the workload runs, when it runs in several "
            "(default: where it runs, or is in dev mode; local is the hub)",
        )
        v.add_argument("--namespace", help="where the workload runs (default: the first deploy target's namespace)")
        v.add_argument("--dir", help="local folder to sync (default: the Application file's folder)")
        if verb in ("start", "up", "end"):
            v.add_argument("--takeover", action="store_true", help="take dev mode over from another developer")
        if verb == "up":
            mode = v.add_mutually_exclusive_group()
            mode.add_argument("--run", action="store_true", help="also run command.run (hot reload if configured)")
            mode.add_argument("--debug", action="store_true", help="also run command.debug")
    p.set_defaults(func=cmd_dev)


if __name__ == "__main__":
    sys.exit(main())
