#!/usr/bin/env python3
"""Soak test of the language server: thousands of random, hostile edits through the protocol.

    python bench/soak_lsp.py [--edits N] [--quick] [--seed S] [--corpus DIR]... [--json PATH]

One `veladev lsp` process gets --edits full-text changes (default 10,000) spread over a few open
documents, each drawn at random from:

* mutations of the corpus files (examples/, tests/corpus/ and every --corpus DIR): lines deleted, duplicated,
  re-indented, truncated, characters and YAML tokens (`&a`, `*a`, `<<: *a`, `[`, `{`, `:`)
  inserted;
* alias bombs ("billion laughs") of every shape in hostile_inputs.py, 3 to 12 levels deep;
* huge documents (an application of thousands of components) and deeply nested ones (up to
  100,000 levels in flow style, 3,000 in block style);
* text that is no YAML at all: random bytes, control characters, lone surrogates, and frames
  whose body is not valid UTF-8;
* rapid open/change/close of short-lived documents.

Between edits it asks for hover, completion, code actions and document symbols at random places.
Every edit waits for the publishDiagnostics of its version. It reports crashes (the server
process gone: it is restarted and the run goes on), answers that never came (60 s), the slowest
answer and what it answered, latency percentiles per kind of input, and the server's peak RSS
(VmHWM). Nothing is asserted: the figures are printed (and written with --json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_lsp import (
    EXAMPLE,
    REPO,
    LspClient,
    ServerError,
    generate_large_app,
    start_session_server,
    veladev_spec,
    vm_hwm_kb,
)
from hostile_inputs import BOMB_SHAPES, alias_bomb, deep_nesting, garbage

#: How often each kind of edit is drawn (relative weights).
EDIT_KINDS = {
    "mutation": 70,
    "bomb": 6,
    "nested": 4,
    "huge": 0.4,
    "garbage": 6,
    "surrogates": 2,
    "invalid-utf8": 1.6,
    "open-close": 10,
}
REQUESTS = ("textDocument/hover", "textDocument/completion", "textDocument/codeAction", "textDocument/documentSymbol")
ANSWER_TIMEOUT = 60.0
OPEN_DOCUMENTS = 4
TOKENS = [
    "&a ",
    "*a",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "\t",
    "'",
    '"',
    "#",
    "|\n",
    ">-\n",
    "? ",
    "!!binary ",
    "!!int ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "\ufeff",
    "\u2028",
    "😀",
    "\x00",
    "\r",
]


@dataclass
class Stats:
    edits: int = 0
    requests: int = 0
    crashes: list[dict[str, Any]] = field(default_factory=list)
    no_answer: list[dict[str, Any]] = field(default_factory=list)
    request_errors: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    slowest: tuple[float, str, int] = (0.0, "", 0)  # ms, kind, size of the text
    peak_rss_kb: int = 0


def corpus_texts(dirs: list[Path]) -> list[str]:
    texts = []
    for d in [EXAMPLE.parent.parent, REPO / "tests" / "corpus", *dirs]:
        for p in sorted(d.rglob("*")):
            if p.suffix.lower() in (".yaml", ".yml") and p.is_file():
                try:
                    texts.append(p.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError):
                    pass
    return texts


def mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines)) if lines else 0
        op = rng.randrange(7)
        if not lines:
            lines = [""]
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            lines[i] = " " * rng.randint(0, 12) + lines[i].lstrip()
        elif op == 3:
            lines = lines[:i]
        elif op == 4 and lines[i]:
            j = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + chr(rng.randint(32, 0x2FF)) + lines[i][j + 1 :]
        else:
            j = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:j] + rng.choice(TOKENS) + lines[i][j:]
    return "\n".join(lines)


class Soak:
    def __init__(self, args: argparse.Namespace, logs: Path):
        self.args = args
        self.logs = logs
        self.rng = random.Random(args.seed)
        self.corpus = corpus_texts([Path(d) for d in args.corpus])
        self.large = generate_large_app(EXAMPLE.read_text())
        self.stats = Stats()
        self.client: LspClient | None = None
        self.docs: dict[str, tuple[int, str]] = {}  # uri -> (version, text)
        self.last_kind = ""
        self.serial = 0

    # --- the server ------------------------------------------------------------------------

    @property
    def server(self) -> LspClient:
        """The client of the running server (after start())."""
        if self.client is None:
            raise RuntimeError("the server has not been started")
        return self.client

    async def start(self) -> None:
        self.client, _ = await start_session_server(veladev_spec(), REPO, self.logs)
        for uri in list(self.docs):
            _, text = self.docs[uri]
            self.docs[uri] = (1, text)
            await self.client.notify(
                "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
            )

    def alive(self) -> bool:
        c = self.client
        return (
            c is not None
            and c.proc is not None
            and c.proc.returncode is None
            and c.reader is not None
            and not c.reader.done()
        )

    async def check_alive(self) -> None:
        if self.alive():
            return
        c = self.client
        tail = (self.logs / "veladev.stderr").read_text(errors="replace")[-2000:]
        self.stats.crashes.append(
            {
                "after": self.last_kind,
                "edit": self.stats.edits,
                "exit": c.proc.returncode if c and c.proc else None,
                "stderr": tail,
            }
        )
        self.record_rss()
        if c is not None:
            await c.stop()
        await self.start()

    def record_rss(self) -> None:
        if self.client is not None and self.client.proc is not None:
            self.stats.peak_rss_kb = max(self.stats.peak_rss_kb, vm_hwm_kb(self.client.pid) or 0)

    def answered(self, kind: str, ms: float, size: int) -> None:
        self.stats.latencies[kind].append(ms)
        if ms > self.stats.slowest[0]:
            self.stats.slowest = (ms, kind, size)

    # --- edits -----------------------------------------------------------------------------

    def new_text(self, kind: str, base: str) -> str:
        rng = self.rng
        if kind == "mutation":
            return mutate(rng, base if rng.random() < 0.8 else rng.choice(self.corpus))
        if kind == "bomb":
            return alias_bomb(rng.choice(BOMB_SHAPES), rng.randint(3, 12), rng.randint(2, 12))
        if kind == "nested":
            if rng.random() < 0.5:  # block nesting indents every level: its text grows as depth squared
                return deep_nesting(rng.choice((50, 500, 3_000)), flow=False)
            return deep_nesting(rng.choice((50, 500, 5_000, 100_000)))
        if kind == "huge":
            return generate_large_app(EXAMPLE.read_text(), rng.choice((1_000, 3_000)))
        if kind == "garbage":
            return garbage(rng, rng.randint(1, 20_000)).decode("latin-1")
        if kind == "surrogates":
            return "".join(chr(rng.choice((rng.randint(0xD800, 0xDFFF), rng.randint(0, 0x7F)))) for _ in range(200))
        raise ValueError(kind)

    async def change(self, uri: str, text: str, kind: str) -> None:
        c = self.server
        version = self.docs[uri][0] + 1
        self.docs[uri] = (version, text)
        before = len(c.publishes)
        t0 = await c.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )
        self.stats.edits += 1
        try:
            t1, _, _ = await c.wait_publish(uri, before, version, timeout=ANSWER_TIMEOUT)
        except ServerError as exc:
            if self.alive():
                self.stats.no_answer.append({"kind": kind, "chars": len(text), "error": str(exc)})
            return
        self.answered(kind, (t1 - t0) * 1000, len(text))

    async def invalid_utf8(self, uri: str) -> None:
        """A didChange whose body is not UTF-8: the server must drop it and go on."""
        version = self.docs[uri][0] + 1
        body = (
            b'{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":"'
            + uri.encode()
            + b'","version":%d},"contentChanges":[{"text":"a: \xff\xfe\xc3("}]}}' % version
        )
        await self.server._write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.stats.edits += 1
        # Whatever the server made of it, the next edit (a fresh version) must be answered.
        self.docs[uri] = (version, self.docs[uri][1])
        await self.change(uri, self.docs[uri][1], "after-invalid-utf8")

    async def open_close(self) -> None:
        """Open, change and close a document without waiting for any answer in between."""
        c = self.server
        self.serial += 1
        uri = f"file:///soak/short-lived-{self.serial}.yaml"
        text = self.rng.choice(self.corpus)
        await c.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
        )
        for v in range(2, 2 + self.rng.randint(1, 3)):
            text = mutate(self.rng, text)
            await c.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": v}, "contentChanges": [{"text": text}]},
            )
            self.stats.edits += 1
        await c.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    async def request(self, uri: str) -> None:
        c, rng = self.server, self.rng
        text = self.docs[uri][1]
        lines = text.split("\n")
        line = rng.randrange(len(lines))
        pos = {"line": line, "character": rng.randint(0, len(lines[line]))}
        method = rng.choice(REQUESTS)
        params: dict[str, Any] = {"textDocument": {"uri": uri}}
        if method == "textDocument/codeAction":
            params.update(range={"start": pos, "end": pos}, context={"diagnostics": []})
        elif method != "textDocument/documentSymbol":
            params["position"] = pos
        t0 = time.perf_counter()
        self.stats.requests += 1
        try:
            t1, _ = await c.request(method, params, timeout=ANSWER_TIMEOUT)
        except TimeoutError:
            self.stats.no_answer.append({"kind": method, "chars": len(text)})
            return
        except ServerError:
            self.stats.request_errors += 1  # an error answer is an answer; a crash is found below
            return
        self.answered(method, (t1 - t0) * 1000, len(text))

    async def run(self) -> Stats:
        await self.start()
        for i in range(OPEN_DOCUMENTS):
            uri = f"file:///soak/doc-{i}.yaml"
            text = self.corpus[i % len(self.corpus)]
            self.docs[uri] = (1, text)
            await self.server.notify(
                "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
            )
        kinds, weights = list(EDIT_KINDS), list(EDIT_KINDS.values())
        progress = max(self.args.edits // 20, 1)
        next_report = progress
        while self.stats.edits < self.args.edits:
            uri = self.rng.choice(list(self.docs))
            kind = self.rng.choices(kinds, weights)[0]
            self.last_kind = kind
            if kind == "open-close":
                await self.open_close()
            elif kind == "invalid-utf8":
                await self.invalid_utf8(uri)
            else:
                await self.change(uri, self.new_text(kind, self.docs[uri][1]), kind)
            await self.check_alive()
            if self.rng.random() < 0.3:
                self.last_kind = "request"
                await self.request(uri)
                await self.check_alive()
            if self.docs[uri][1] and len(self.docs[uri][1]) > 200_000:
                await self.change(uri, self.rng.choice(self.corpus), "mutation")  # do not keep editing a huge one
            if self.stats.edits >= next_report:
                next_report += progress
                self.record_rss()
                print(
                    f"  {self.stats.edits} edits, {len(self.stats.crashes)} crash(es), "
                    f"peak RSS {self.stats.peak_rss_kb / 1024:.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
        self.record_rss()
        await self.server.stop()
        return self.stats


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


def report(stats: Stats, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    ms, kind, size = stats.slowest
    summary = {
        "edits": stats.edits,
        "requests": stats.requests,
        "crashes": len(stats.crashes),
        "no_answer": len(stats.no_answer),
        "request_errors": stats.request_errors,
        "slowest_answer_ms": round(ms, 1),
        "slowest_answer_to": kind,
        "slowest_answer_chars": size,
        "peak_rss_mb": round(stats.peak_rss_kb / 1024, 1),
        "seconds": round(seconds, 1),
        "seed": args.seed,
    }
    print(f"soak: {stats.edits} edits and {stats.requests} requests in {seconds:.0f} s (seed {args.seed})")
    print(f"crashes (server exited)      {len(stats.crashes)}")
    print(f"answers never given (60 s)   {len(stats.no_answer)}")
    print(f"error answers to requests    {stats.request_errors}")
    print(f"slowest answer               {ms:.0f} ms ({kind}, a text of {size:,} characters)")
    print(f"peak RSS (VmHWM)             {stats.peak_rss_kb / 1024:.0f} MB")
    print(f"{'input':<28}{'n':>7}{'median ms':>11}{'p99 ms':>9}{'max ms':>9}")
    for k in sorted(stats.latencies):
        xs = stats.latencies[k]
        print(f"{k:<28}{len(xs):>7}{statistics.median(xs):>11.1f}{percentile(xs, 0.99):>9.1f}{max(xs):>9.1f}")
    for crash in stats.crashes[:5]:
        print(f"crash after {crash['after']} (edit {crash['edit']}, exit {crash['exit']}):\n{crash['stderr']}")
    for miss in stats.no_answer[:5]:
        print(f"no answer: {miss}")
    extra = f" --corpus {' --corpus '.join(args.corpus)}" if args.corpus else ""
    print(f"reproduce: python bench/soak_lsp.py --edits {args.edits} --seed {args.seed}{extra}")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--edits", type=int, default=10_000, help="edits to send (default 10,000)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 300 edits")
    p.add_argument("--seed", type=int, default=1, help="random seed (a run is repeatable)")
    p.add_argument("--corpus", action="append", default=[], help="another folder of Application YAML to mutate")
    p.add_argument("--json", type=Path, help="write the summary and every crash here")
    args = p.parse_args(argv)
    if args.quick:
        args.edits = 300
    return args


async def amain(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="veladev-soak-") as tmp:
        t = time.perf_counter()
        stats = await Soak(args, Path(tmp)).run()
        summary = report(stats, args, time.perf_counter() - t)
    if args.json:
        args.json.write_text(
            json.dumps({"summary": summary, "crashes": stats.crashes, "no_answer": stats.no_answer}, indent=2)
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
