"""Text an editor may hold that is no YAML at all: always findings, never an exception."""

import random

from hostile_inputs import garbage

from veladev.appmodel.validate import check_text
from veladev.catalog import bundled_catalog

CAT = bundled_catalog()


def test_a_lone_surrogate_is_a_finding_at_its_place():
    (f,) = check_text("a: 1\nb: x\udcff\n", CAT)
    assert f.code == "yaml-syntax" and "lone surrogate" in f.message
    assert (f.span.start.line, f.span.start.col) == (1, 4)


def test_a_value_the_constructor_cannot_build_is_a_finding():
    for text in ("a: !!int \n", "a: !!float \n", "? [a]\n: 1\n"):
        assert [f.code for f in check_text(text, CAT)] == ["yaml-syntax"], text


def test_random_bytes_give_findings_not_exceptions():
    rng = random.Random(3)
    for size in (1, 10, 1000, 20_000):
        for _ in range(20):
            check_text(garbage(rng, size).decode("latin-1"), CAT)
