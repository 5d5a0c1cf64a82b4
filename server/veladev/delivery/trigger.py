"""Trigger a KubeVela workflow: VelaUX's webhook, or a direct patch of the Application.

VelaUX's custom trigger (`POST /api/v1/webhook/{token}`) takes `upgrade` keyed by component
name, merges each object into that component's properties, and deploys a new publishVersion
(`kubevela/velaux: pkg/server/interfaces/api/webhook.go@v1.9.5`). The token is a credential: it never appears in
a message or a log.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class TriggerError(Exception):
    pass


def trigger_webhook(base_url: str, token: str, upgrade: dict[str, dict[str, Any]],
                    code_info: dict[str, str] | None = None, timeout: float = 30) -> dict[str, Any]:
    payload: dict[str, Any] = {"upgrade": upgrade}
    if code_info:
        payload["codeInfo"] = code_info
    url = f"{base_url.rstrip('/')}/api/v1/webhook/{token}"
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    shown = f"{base_url.rstrip('/')}/api/v1/webhook/<token>"
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            body = json.loads(exc.read() or b"{}")
            detail = body.get("Message") or body.get("message") or ""
        except ValueError:
            pass
        hint = " (check the trigger token)" if exc.code in (400, 401, 403, 404) and "token" in detail.lower() else ""
        raise TriggerError(f"VelaUX refused the trigger at {shown}: {exc.code} {detail}{hint}".strip()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TriggerError(f"cannot reach VelaUX at {shown}: {reason}") from None
