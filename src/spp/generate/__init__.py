"""Reflection generators: one interface, backends by name (``offline``, ``openai``, ``transformers``)."""

from spp.generate.base import (
    GENERATORS,
    GeneratorConfig,
    ReflectionGenerator,
    ReflectionRequest,
    ReflectionResult,
    build_generator,
    register_generator,
)
from spp.generate.validate import ReflectionValidator, ValidationConfig, Verdict, extract_citations, parse_json_object

__all__ = [
    "GENERATORS",
    "GeneratorConfig",
    "ReflectionGenerator",
    "ReflectionRequest",
    "ReflectionResult",
    "ReflectionValidator",
    "ValidationConfig",
    "Verdict",
    "build_generator",
    "extract_citations",
    "parse_json_object",
    "register_generator",
]
