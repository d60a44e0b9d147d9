"""Model artifacts by provider name: how a provider's trained model becomes files and back.

A provider whose model lives on this machine (``local``; later an executor's cluster cache)
registers one module here; providers that host the model themselves (OpenAI) register none,
and their builds find the model by key instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ftspec.artifacts.tree import Tree
from ftspec.registry import Registry


class ModelArtifact(Protocol):
    def collect(self, provider: Any, model_id: str) -> Tree | None:
        """The files of ``model_id`` on this machine, or None when it is not here."""

    def present(self, provider: Any, model_id: str) -> bool:
        """Whether ``model_id``'s files are on this machine (cheap: nothing is hashed)."""

    def install(self, provider: Any, model_id: str, files: dict[str, Path]) -> None:
        """Put pulled, verified files (relative path -> temp file) in place, atomically."""


MODEL_ARTIFACTS: Registry[type[ModelArtifact]] = Registry("model artifact kind", "ftspec.artifacts.kinds")
