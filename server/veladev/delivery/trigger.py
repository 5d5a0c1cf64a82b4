"""Trigger a KubeVela workflow: VelaUX's webhook, or a direct patch of the Application.

VelaUX's custom trigger (`POST /api/v1/webhook/{token}`) takes `upgrade` keyed by component
name, merges each object into that component's properties, and deploys a new publishVersion
(`kubevela/velaux: pkg/server/interfaces/api/webhook.go@v1.9.5`). The token is a credential: it never appears in
a message or a log.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class TriggerError(Exception):
    pass


def trigger_webhook(
    base_url: str,
    token: str,
    upgrade: dict[str, dict[str, Any]],
    code_info: dict[str, str] | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"upgrade": upgrade}
    if code_info:
        payload["codeInfo"] = code_info
    base = _without_userinfo(base_url)
    shown = f"{base.rstrip('/')}/api/v1/webhook/<token>" if base else "the given VelaUX address"
    url = f"{base_url.rstrip('/')}/api/v1/webhook/{urllib.parse.quote(token, safe='')}"
    try:
        req = urllib.request.Request(
            url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            answer = json.loads(exc.read() or b"{}")
            detail = str(answer.get("Message") or answer.get("message") or "") if isinstance(answer, dict) else ""
        except ValueError:
            pass
        hint = " (check the trigger token)" if exc.code in (400, 401, 403, 404) and "token" in detail.lower() else ""
        raise TriggerError(
            f"VelaUX refused the trigger at {shown}: {exc.code} {detail.replace(token, '<token>')}{hint}".strip()
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc)).replace(token, "<token>")
        raise TriggerError(f"cannot reach VelaUX at {shown}: {reason}") from None
    except ValueError:  # not an http(s) URL, a bad port, a control character: the text quotes the URL
        raise TriggerError(f"{shown} is not a usable VelaUX address (expected e.g. http://127.0.0.1:8000)") from None
    try:
        result = json.loads(body or b"{}")
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise TriggerError(f"VelaUX at {shown} answered with something other than a JSON object")
    return result


def _without_userinfo(url: str) -> str | None:
    """The URL without `user:password@`, which must not reach a message either (None: unparsable)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
