"""The error every layer raises for input a person can fix."""


class UsageError(Exception):
    """Bad input: the message says what was wrong and how to write it."""
