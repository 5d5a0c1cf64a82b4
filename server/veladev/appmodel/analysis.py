"""One analysis of a file's text: parsed documents, their Application models and findings.

The language server keeps the latest analysis per document version, so completion, hover,
navigation and quick fixes reuse the parse that diagnostics already paid for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yaml.nodes import Node

from .definitions import Catalog
from .findings import Finding
from .model import AppModel, is_application, read_model
from .validate import check_application
from .yamldoc import ParseResult, parse


@dataclass(slots=True)
class AppDocument:
    root: Node
    value: dict[str, Any]
    model: AppModel


@dataclass(slots=True)
class Analysis:
    parsed: ParseResult
    apps: list[AppDocument]
    findings: list[Finding]

    @property
    def lines(self) -> list[str]:
        return self.parsed.lines


def analyze(text: str, catalog: Catalog) -> Analysis:
    parsed = parse(text)
    findings: list[Finding] = [parsed.error] if parsed.error is not None else []
    apps = []
    for doc in parsed.documents:
        if doc.root is not None and is_application(doc.value):
            apps.append(AppDocument(doc.root, doc.value, read_model(doc.value)))
            findings.extend(check_application(doc.root, doc.value, parsed.lines, catalog, doc.duplicates, doc.aliased))
    findings.sort(key=lambda f: (f.span.start, f.severity, f.code))
    return Analysis(parsed, apps, findings)
