"""The exception tree. Each error carries the file, key or URL at fault."""


class RepublisherError(Exception):
    """Base of every expected failure; the CLI prints it as one line."""


class ConfigError(RepublisherError):
    """config.toml or a rule file is invalid. Carries every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class FetchError(RepublisherError):
    """A source could not be fetched. `retry_after` is the server's Retry-After, in seconds."""

    def __init__(
        self, url: str, reason: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{url}: {reason}")


class ParseError(RepublisherError):
    """A fetched body is not a feed we can read."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class StoreError(RepublisherError):
    """The SQLite store cannot be opened or written."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")
