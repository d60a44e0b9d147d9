"""Layer 1: the spec format, its schema, loading with located errors."""

from ftspec.spec.loader import load_spec, load_spec_text
from ftspec.spec.model import SourceSpec, Spec

__all__ = ["Spec", "SourceSpec", "load_spec", "load_spec_text"]
