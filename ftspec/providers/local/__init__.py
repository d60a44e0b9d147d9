"""The ``local`` provider: LoRA fine-tuning and serving of open-weight models on this machine.

Installed as the ``ftspec[local]`` extra. Importing this package only checks that the extra's
packages are present (so ``provider: local`` without them fails with one line saying what to
install); torch, transformers and peft themselves are imported lazily where they are used.
"""

from __future__ import annotations

import importlib.util

_REQUIRED = ("torch", "transformers", "peft", "safetensors")


def _check_extra() -> None:
    for name in _REQUIRED:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)


_check_extra()

__all__ = ["LocalProvider"]


def __getattr__(name: str):
    if name == "LocalProvider":
        from ftspec.providers.local.provider import LocalProvider

        return LocalProvider
    raise AttributeError(name)
