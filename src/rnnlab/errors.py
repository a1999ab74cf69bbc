"""The one exception family for bad user input.

`InputError` subclasses ValueError, TypeError and RuntimeError so that code written against
torch.nn (which raises RuntimeError) or plain Python conventions keeps catching it.
"""


class InputError(ValueError, TypeError, RuntimeError):
    """Bad input from the user: message names the component and what it expected."""


class DataError(InputError):
    """A corpus, file or split that cannot be used as asked."""


class CheckpointError(InputError):
    """A checkpoint that is missing, corrupted or does not match what is being loaded."""
