"""What veladev renders itself: the nocalhost trait's dev config (dev mode reads it from the
trait in the open Application)."""

import yaml

from support import EXAMPLE
from veladev.appmodel.render import apply_defaults, nocalhost_dev_config
from veladev.catalog import bundled_catalog

CAT = bundled_catalog()


def example_trait():
    comp = yaml.safe_load(EXAMPLE.read_text())["spec"]["components"][0]
    return comp["name"], next(t for t in comp["traits"] if t["type"] == "nocalhost")["properties"]


def test_nocalhost_dev_config_applies_defaults_and_resolves_the_alias():
    name, props = example_trait()
    cfg = nocalhost_dev_config(name, props, CAT)
    assert cfg["name"] == "frontend" and cfg["serviceType"] == "deployment"
    assert [c["name"] for c in cfg["containers"]] == ["frontend"]
    dev = cfg["containers"][0]["dev"]
    # The template's field order, so json.dumps gives the text KubeVela writes.
    assert list(dev) == [
        "image",
        "shell",
        "workDir",
        "resources",
        "command",
        "debug",
        "hotReload",
        "sync",
        "portForward",
    ]
    assert dev["image"] == "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/node:latest"
    assert dev["shell"] == "bash"  # a default
    assert dev["resources"]["requests"] == {"memory": "512Mi", "cpu": "0.5"}
    assert dev["sync"]["type"] == "sendReceive" and dev["portForward"] == ["8080:80"]


def test_nocalhost_default_port_forward_is_port_to_port():
    cfg = nocalhost_dev_config("authors", {"port": 9080, "image": "go"}, CAT)
    dev = cfg["containers"][0]["dev"]
    assert dev["portForward"] == ["9080:9080"] and dev["command"] == {
        "run": ["sh", "run.sh"],
        "debug": ["sh", "debug.sh"],
    }
    assert dev["sync"] == {
        "type": "send",
        "filePattern": ["./"],
        "ignoreFilePattern": [".git", ".vscode", ".idea", ".gradle", "build"],
    }


def test_apply_defaults_fills_nested_defaults_only_where_absent():
    nocalhost = CAT.get("trait", "nocalhost")
    assert nocalhost is not None
    schema = nocalhost.schema
    out = apply_defaults(schema, {"sync": {"type": "sendReceive"}, "port": 80})
    assert out["sync"]["type"] == "sendReceive" and out["sync"]["filePattern"] == ["./"]
    assert out["hotReload"] is True and out["port"] == 80
