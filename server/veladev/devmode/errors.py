"""The one error type of dev mode: its message is a sentence for the user (what happened and
what to do), never a traceback and never a credential."""


class DevModeError(Exception):
    """A dev-mode failure, worded for the user."""
