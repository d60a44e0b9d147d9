"""ftspec: a declarative, spec-driven build system for fine-tuned language models.

The public Python API mirrors the CLI; heavy modules are imported on first use.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_spec", "build_dataset"]


def __getattr__(name: str):
    if name == "load_spec":
        from ftspec.spec import load_spec

        return load_spec
    if name == "build_dataset":
        from ftspec.data.pipeline import build_dataset

        return build_dataset
    raise AttributeError(name)
