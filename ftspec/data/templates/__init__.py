"""Templates turn an ``Example`` into the record a provider trains on (chat or completion).

Registered by ``template.type``. Evals reuse the same object (``prompt_for``, ``stop``) so a
completion model is prompted exactly as it was trained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ftspec.errors import Problem
from ftspec.registry import Registry

if TYPE_CHECKING:
    from ftspec.data.records import Example
    from ftspec.spec.model import Spec


class TemplateError(ValueError):
    """An example the template refuses (e.g. the separator occurs inside its prompt)."""


class Template:
    kind: ClassVar[str]  # "chat" | "completion": the record shape it writes

    def __init__(self, options: dict[str, Any], spec: Spec) -> None:
        self.options = options
        self.spec = spec

    @classmethod
    def problems(cls, options: dict[str, Any], spec: Spec) -> list[Problem]:
        return []

    def render(self, example: Example) -> dict[str, Any]:
        raise NotImplementedError

    def prompt_for(self, messages: list[dict[str, Any]] | None = None, prompt: str | None = None) -> Any:
        """What an eval sends: chat messages, or a completion prompt with the separator."""
        raise NotImplementedError

    @property
    def stop(self) -> list[str] | None:
        return None


TEMPLATES: Registry[type[Template]] = Registry("template type", __name__)


def get_template(spec: Spec) -> Template:
    options = spec.template
    return TEMPLATES.get(options["type"])(options, spec)


def template_problems(spec: Spec, check_files: bool = True) -> list[Problem]:
    options = spec.template
    if options["type"] not in TEMPLATES:
        return [spec.problem(("template", "type"), f"unknown template type '{options['type']}'")]
    return TEMPLATES.get(options["type"]).problems(options, spec)


def jinja_environment():
    """Sandboxed (a spec is untrusted input) and strict (a typo is an error, not "")."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def compile_problems(spec: Spec, key: str, source: str | None, variables: dict[str, Any]) -> list[Problem]:
    """Compile and dry-render a Jinja template so syntax errors and unknown variables are
    reported at load time, located at the template key."""
    if source is None:
        return []
    import jinja2

    try:
        jinja_environment().from_string(source).render(**variables)
    except jinja2.TemplateSyntaxError as exc:
        return [spec.problem(("template", key), f"template syntax error on its line {exc.lineno}: {exc.message}")]
    except jinja2.UndefinedError as exc:
        return [spec.problem(("template", key), f"{exc.message}; available: {', '.join(sorted(variables))}")]
    except jinja2.exceptions.SecurityError as exc:
        return [spec.problem(("template", key), f"not allowed in a template: {exc}")]
    return []
