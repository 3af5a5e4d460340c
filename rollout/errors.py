"""The rollout package's base error: a message a person can act on, shown as one line."""


class RolloutError(Exception):
    """A problem the user can fix; its message says what happened and what to do next."""
