"""`veladev`: the language server and the same operations from a terminal."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__

YAML_SUFFIXES = (".yaml", ".yml")


def _iter_files(targets: list[str]) -> list[Path]:
    files: list[Path] = []
    for t in targets:
        p = Path(t)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix in YAML_SUFFIXES and f.is_file()))
        else:
            files.append(p)
    return files


def cmd_check(args: argparse.Namespace) -> int:
    from .catalog import bundled_catalog
    from .spec.findings import Severity
    from .spec.validate import check_text

    catalog = bundled_catalog()
    results = []
    errors = 0
    for path in _iter_files(args.paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            errors += 1
            continue
        findings = check_text(text, catalog)
        errors += sum(1 for f in findings if f.severity == Severity.ERROR)
        results.append((path, findings))
    if args.format == "json":
        json.dump([{"path": str(p), "findings": [f.to_json() for f in fs]} for p, fs in results], sys.stdout, indent=2)
        print()
    else:
        for path, findings in results:
            for f in findings:
                print(f.format(str(path)))
        n = sum(len(fs) for _, fs in results)
        print(f"{len(results)} file(s) checked, {n} finding(s), {errors} error(s)", file=sys.stderr)
    return 1 if errors else 0


def cmd_lsp(args: argparse.Namespace) -> int:
    import logging

    from .lsp.server import build_server

    # stdout carries the protocol; the log goes to stderr, which editors show as the server log.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    server = build_server()
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job. Until the sandbox cluster exists: check the example Application."""
    root = Path(__file__).resolve().parents[2]
    example = Path(args.app) if args.app else root / "examples" / "frontend" / "vela-app.yaml"
    print(f"veladev demo: checking {example}")
    rc = cmd_check(argparse.Namespace(paths=[str(example)], format="text"))
    print("veladev demo: example Application is valid" if rc == 0 else "veladev demo: example has errors")
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="veladev", description="Editor tooling for KubeVela Applications")
    parser.add_argument("--version", action="version", version=f"veladev {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate Application YAML files (exit 1 when any error is found)")
    p.add_argument("paths", nargs="+", help="files or directories")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("lsp", help="run the language server (stdio by default)")
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP port instead")
    p.set_defaults(func=cmd_lsp)

    p = sub.add_parser("demo", help="the main job: run the whole flow (for now: check the example app)")
    p.add_argument("--app", help="Application file to use instead of the example")
    p.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
