"""The one error type snnc raises for bad input, and its helpers.

Every user-facing failure (malformed graph, unsupported layer, corrupt file, a target's limit) is a
`SnncError` whose message names *where* (file, node, parameter) and *what was expected*. The CLI turns
it into one line on stderr and exit status 2.
"""


class SnncError(Exception):
    """Bad input or an unsupported model. The message names the place and what was expected."""


class GraphError(SnncError):
    """A graph (or one node of it) is malformed."""

    def __init__(self, node: str | None, message: str):
        self.node = node
        super().__init__(f"node '{node}': {message}" if node else message)


class UnsupportedError(SnncError):
    """A target or frontend cannot handle this model; the message names the node and the limit."""

    def __init__(self, node: str | None, message: str, target: str | None = None):
        self.node = node
        self.target = target
        where = f"{target}: " if target else ""
        super().__init__(f"{where}node '{node}': {message}" if node else f"{where}{message}")


class SnncWarning(UserWarning):
    """Something the user should know that does not stop the work (the CLI prints it in one line)."""
