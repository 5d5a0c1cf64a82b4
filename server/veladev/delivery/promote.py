"""Promote: resume the suspended workflow, exactly as `vela workflow resume` does."""

from .operations import resume as promote

__all__ = ["promote"]
