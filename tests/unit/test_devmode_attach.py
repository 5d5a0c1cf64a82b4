"""Debugger attach configurations (VS Code launch configurations) by language."""

import pytest

from veladev.devmode import DevModeError
from veladev.devmode.remote import attach_configuration

ROOTS = {"local_root": "/home/me/app", "remote_root": "/home/nocalhost-dev"}


@pytest.mark.parametrize(
    "language,expected",
    [
        (
            "node",
            {
                "type": "node",
                "request": "attach",
                "address": "127.0.0.1",
                "port": 9229,
                "localRoot": "/home/me/app",
                "remoteRoot": "/home/nocalhost-dev",
            },
        ),
        (
            "Python",
            {
                "type": "debugpy",
                "request": "attach",
                "connect": {"host": "127.0.0.1", "port": 9229},
                "pathMappings": [{"localRoot": "/home/me/app", "remoteRoot": "/home/nocalhost-dev"}],
            },
        ),
        (
            "golang",
            {
                "type": "go",
                "request": "attach",
                "mode": "remote",
                "host": "127.0.0.1",
                "port": 9229,
                "substitutePath": [{"from": "/home/me/app", "to": "/home/nocalhost-dev"}],
            },
        ),
        (
            "java",
            {
                "type": "java",
                "request": "attach",
                "hostName": "127.0.0.1",
                "port": 9229,
                "sourcePaths": ["/home/me/app"],
            },
        ),
        (
            "ruby",
            {
                "type": "rdbg",
                "request": "attach",
                "debugPort": "127.0.0.1:9229",
                "localfsMap": "/home/nocalhost-dev:/home/me/app",
            },
        ),
    ],
)
def test_attach_configuration_maps_roots_and_port(language, expected):
    conf = attach_configuration(language, port=9229, **ROOTS)
    assert {k: conf[k] for k in expected} == expected
    assert conf["name"]


def test_unknown_language_is_a_clear_error():
    with pytest.raises(DevModeError, match="no debugger attach configuration for language 'cobol'"):
        attach_configuration("cobol", port=1, **ROOTS)
