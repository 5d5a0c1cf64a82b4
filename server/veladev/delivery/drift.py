"""Drift hint: the live Application's image differs from the file's (a trigger or CI moved it).
Pure: the file's analysis and the live object in, findings with a quick fix out."""

from __future__ import annotations

import json
import re
from typing import Any

from ..appmodel.analysis import AppDocument
from ..appmodel.findings import Finding, Fix, Severity, TextEdit
from ..appmodel.yamldoc import locate_exact, span_of

CODE = "live-image-differs"
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")


def _yaml_scalar(text: str) -> str:
    return text if _PLAIN.match(text) and ": " not in text else json.dumps(text)


def image_drift(doc: AppDocument, live: dict[str, Any]) -> list[Finding]:
    live_images = {
        c.get("name"): (c.get("properties") or {}).get("image")
        for c in (live.get("spec") or {}).get("components") or []
        if isinstance(c, dict)
    }
    out: list[Finding] = []
    for comp in doc.model.components:
        props = comp.properties if isinstance(comp.properties, dict) else {}
        mine, theirs = props.get("image"), live_images.get(comp.name)
        if not isinstance(mine, str) or not isinstance(theirs, str) or mine == theirs:
            continue
        found = locate_exact(doc.root, (*comp.path, "properties", "image"))
        if found is None:
            continue
        span = span_of(found[1])
        out.append(
            Finding(
                CODE,
                Severity.INFO,
                f"the live application runs {theirs} for component {comp.name} (a trigger or CI changed it); "
                f"deploying this file would change it back to {mine}",
                span,
                (Fix(f"Take the live image {theirs}", (TextEdit(span, _yaml_scalar(theirs)),), preferred=True),),
            )
        )
    return out
