"""Task models built from `rnnlab.nn`."""

from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.models.fast_step import FastStep, ModuleStep, make_stepper

__all__ = ["CharLM", "CharLMConfig", "FastStep", "ModuleStep", "make_stepper"]
