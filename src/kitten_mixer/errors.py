"""The errors Kitten Mixer raises on bad input: each carries a message a user can act on."""


class KittenMixerError(Exception):
    """Base class: the command line prints these as one line, without a traceback."""


class PhotoError(KittenMixerError, ValueError):
    """A photo that cannot be read: not an image, damaged, empty, too small or too large.

    `reason` names the kind of failure for code that explains it in its own words (the app):
    one of "missing", "type", "empty", "not-image", "too-large", "too-small", "damaged".
    """

    def __init__(self, message: str, reason: str = "damaged"):
        super().__init__(message)
        self.reason = reason


class DataError(KittenMixerError, ValueError):
    """A data set that cannot be used: missing, empty, or without one readable photo."""


class ModelFileError(KittenMixerError, ValueError):
    """A saved model or checkpoint that is missing, damaged, or does not match its config."""


class TrainingError(KittenMixerError, RuntimeError):
    """Training cannot go on: the loss diverged, or the run folder is in an unexpected state."""


class MorphError(KittenMixerError, ValueError):
    """A morph or a mix asked for with settings it cannot have: too few steps, an unknown
    method, or unusable weights."""
