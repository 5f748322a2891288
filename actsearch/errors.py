"""Exceptions shared by every layer of actsearch.

Anything the user can fix (a bad study file, an unknown family, a missing dataset) raises a
:class:`ConfigError`; the command line prints its message and exits with status 2, without a traceback.
"""

__all__ = ["ActsearchError", "ConfigError"]


class ActsearchError(Exception):
    """Base class of every error actsearch raises on purpose."""


class ConfigError(ActsearchError, ValueError):
    """Bad input: the message names what is wrong and what is allowed."""
