"""Pod runtime placeholder (replaced below)."""
from aiohttp import web
from .errors import bad_request


class NullRuntime:
    def __init__(self, sb):
        self.sb = sb

    async def info(self):
        return []

    async def shutdown(self):
        pass

    async def kill_pod_processes(self, ns, name, sig=9):
        return 0

    async def serve_log(self, api, request, ns, name, q):
        raise bad_request("pods are disabled in this sandbox")


def namespace_support():
    return "pod runtime not implemented yet"
