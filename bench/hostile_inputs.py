"""Hostile documents for the soak benchmark and the robustness tests: alias bombs ("billion
laughs") of several shapes, deep nesting, huge documents and byte garbage."""

from __future__ import annotations

import random

APP_HEAD = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: bomb\n"

#: Where the bomb's anchors sit in an Application.
BOMB_SHAPES = ("properties", "k8s-objects", "top-level", "nested-sequences")


def _chain(levels: int, width: int, indent: str, nested: bool) -> str:
    """`l0` holds `width` strings; each next level holds `width` aliases of the one before."""
    out = [f"{indent}l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        items = [f"*l{i - 1}"] * width
        body = f"[[{', '.join(items)}]]" if nested else f"[{', '.join(items)}]"
        out.append(f"{indent}l{i}: &l{i} {body}")
    return "\n".join(out) + "\n"


def alias_bomb(shape: str, levels: int = 9, width: int = 9) -> str:
    """An Application whose aliases expand to about width**levels nodes."""
    if shape == "properties":
        return (
            APP_HEAD + "spec:\n  components:\n    - name: web\n      type: webservice\n      properties:\n"
            "        image: nginx\n" + _chain(levels, width, " " * 8, False)
        )
    if shape == "k8s-objects":
        return (
            APP_HEAD + "spec:\n  components:\n    - name: objs\n      type: k8s-objects\n      properties:\n"
            "        objects:\n          - apiVersion: v1\n            kind: ConfigMap\n"
            "            metadata: {name: bomb}\n            data:\n" + _chain(levels, width, " " * 14, False)
        )
    if shape == "top-level":
        return APP_HEAD + "spec:\n  components: []\n" + _chain(levels, width, "", False)
    if shape == "nested-sequences":
        return (
            APP_HEAD + "spec:\n  components:\n    - name: web\n      type: webservice\n      properties:\n"
            "        image: nginx\n        cmd:\n"
            + _chain(levels, width, " " * 10, True).replace(" " * 10 + "l", " " * 10 + "- l")
        )
    raise ValueError(f"unknown bomb shape {shape!r}")


def deep_nesting(depth: int, flow: bool = True) -> str:
    """`depth` nested sequences (flow), or mappings each indented one more (block: depth² chars)."""
    if flow:
        return APP_HEAD + "spec:\n  components: " + "[" * depth + "]" * depth + "\n"
    return (
        APP_HEAD + "spec:\n" + "".join(" " * (2 + i) + f"k{i}:\n" for i in range(depth)) + " " * (2 + depth) + "x: 1\n"
    )


def garbage(rng: random.Random, size: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(size))
