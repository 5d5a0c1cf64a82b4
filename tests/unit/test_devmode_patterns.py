"""Sync path selection as Nocalhost's filePattern / ignoreFilePattern (syncthing syntax)."""

from veladev.devmode.patterns import PathFilter

TRAIT_DEFAULTS = PathFilter(["./"], [".git", ".vscode", ".idea", ".gradle", "build"])


def test_trait_defaults_sync_everything_but_the_ignored_names_at_any_depth():
    assert TRAIT_DEFAULTS.accepts("src/app.py")
    assert TRAIT_DEFAULTS.accepts("buildings.txt")
    for ignored in ("build/out.js", "sub/build/x", ".git/HEAD", ".vscode/settings.json", "a/.idea/b"):
        assert not TRAIT_DEFAULTS.accepts(ignored), ignored
    assert not TRAIT_DEFAULTS.may_contain("sub/build")


def test_git_is_always_ignored_and_an_empty_file_pattern_list_syncs_all():
    f = PathFilter([], [])
    assert f.accepts("x/y.txt") and not f.accepts(".git/config") and not f.accepts("m/.git/config")


def test_anchored_globs_braces_and_case_insensitive_patterns():
    f = PathFilter(["./src", "*.{js,ts}"], ["(?i)*.LOG", "/tmp", "**/cache/**"])
    assert f.accepts("src/deep/a.py")  # ./src -> /src: the directory and all in it
    assert not f.accepts("lib/src/a.py")  # anchored at the root
    assert f.accepts("lib/x.ts") and f.accepts("x.js") and not f.accepts("lib/x.py")
    assert not f.accepts("src/debug.log")  # ignore wins, case-insensitively
    assert f.accepts("tmp.js") and not f.accepts("tmp/a.js")
    assert not f.accepts("src/a/cache/b.js")


def test_question_mark_and_character_classes():
    f = PathFilter(["./"], ["f?.txt", "[ab]*.tmp", "[!c]x"])
    assert not f.accepts("f1.txt") and f.accepts("f12.txt")
    assert not f.accepts("a1.tmp") and f.accepts("c1.tmp")
    assert not f.accepts("dx") and f.accepts("cx")
