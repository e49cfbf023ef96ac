"""The one exception type of the lab: its message is a sentence a person can act on."""


class LabError(Exception):
    """A lab operation failed for a reason the caller can fix (not root, podman missing, name taken...)."""
