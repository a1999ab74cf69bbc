"""Task models built from `rnnlab.nn`."""

from rnnlab.models.charlm import CharLM, CharLMConfig

__all__ = ["CharLM", "CharLMConfig"]
