"""Definitions and their parameter schemas: bundled (schemas/) and, when configured, the cluster's."""

from .bundled import bundled_catalog

__all__ = ["bundled_catalog"]
