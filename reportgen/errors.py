"""The one exception type that reaches the user as a single line."""


class UserError(Exception):
    """Bad input or a missing tool: the CLI prints `error: <message>` and exits 2.

    The message says what is wrong and what to do; `detail` (for example a
    compiler's output) is printed after it when present.
    """

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail
