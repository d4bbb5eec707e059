"""User-facing errors: one line that names what is wrong and how to fix it."""


class CrossviewError(Exception):
    """An error caused by user input or the environment; the CLI prints it as one line and exits non-zero."""


class BackendUnavailable(CrossviewError):
    """An adapter or policy whose backend library or engine is not installed here."""
