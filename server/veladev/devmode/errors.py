"""The one error type of dev mode: its message is a sentence for the user (what happened and
what to do), never a traceback and never a credential."""


class DevModeError(Exception):
    """A dev-mode failure, worded for the user."""


class PlacementChoice(DevModeError):
    """The user has to say in which placement (cluster, namespace) to develop: the component
    runs in several, or not in the one named. A usage error (the CLI exits with 2)."""
