"""Templates turn an ``Example`` into the record a provider trains on (chat or completion).

Registered by ``template.type``. Evals reuse the same object (``prompt_for``, ``stop``) so a
completion model is prompted exactly as it was trained.
"""

from __future__ import annotations

import math
from functools import cache
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
    template = TEMPLATES.get(options["type"])
    problems = template.problems(options, spec)
    if spec.job.get("method") == "dpo" and template.kind != "chat":
        problems.append(spec.problem(("job", "method"), "method dpo trains chat preference pairs; use `template: {type: chat}`"))
    return problems


MAX_RANGE = 10_000
"""Most items ``range()`` may produce inside a spec template."""

MAX_RESULT = 1_000_000
"""Largest string or list a ``*`` may build, and most digits a ``**`` result may have."""

_REFUSED_TAGS = {"Include": "include", "Import": "import", "FromImport": "from ... import",
                 "Extends": "extends"}
_NONDETERMINISTIC = {"random", "lipsum"}


def _safe_range(*args: int) -> range:
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise OverflowError(f"range() of {len(items)} items is over the limit of {MAX_RANGE}")
    return items


@cache
def _environment_class():
    from jinja2.sandbox import SandboxedEnvironment

    class SpecEnvironment(SandboxedEnvironment):
        """A spec is untrusted input: no file access, no randomness, bounded arithmetic."""

        intercepted_binops = frozenset({"*", "**", "//", "/", "%"})

        def call_binop(self, context, operator, left, right):  # type: ignore[no-untyped-def]
            if operator == "**" and isinstance(left, int) and isinstance(right, int):
                if right < 0 or abs(left) < 2:
                    return left ** right
                digits = right * math.log10(abs(left))
                if digits > MAX_RESULT // 1000:
                    raise OverflowError(f"{left} ** {right} has about {int(digits)} digits, over the limit")
            if operator == "*" and isinstance(right, int) and isinstance(left, (str, list, tuple)):
                left, right = right, left
            if (operator == "*" and isinstance(left, int) and isinstance(right, (str, list, tuple))
                    and left * len(right) > MAX_RESULT):
                raise OverflowError(f"a repeated value of {left * len(right)} items is over the limit")
            return super().call_binop(context, operator, left, right)

    return SpecEnvironment


def jinja_environment():
    """Sandboxed (a spec is untrusted input) and strict (a typo is an error, not ""): no loader
    (so no include/import/extends), no ``random`` filter or ``lipsum`` (a build is
    reproducible), ``range`` capped at :data:`MAX_RANGE`, ``*``/``**`` bounded."""
    from jinja2 import StrictUndefined

    env = _environment_class()(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    for name in _NONDETERMINISTIC:
        env.filters.pop(name, None)
        env.globals.pop(name, None)
    env.globals["range"] = _safe_range
    env.filters = {name: _bounded(name, f) for name, f in env.filters.items()}
    return env


def _bounded(name: str, func):
    """A filter whose integer arguments (widths, counts) are at most :data:`MAX_RESULT`."""
    import functools

    skip = 2 if hasattr(func, "jinja_pass_arg") else 1  # (context,) value, then the arguments

    @functools.wraps(func)
    def call(*args, **kwargs):
        for value in list(args[skip:]) + list(kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_RESULT:
                raise OverflowError(f"filter '{name}' argument {value} is over the limit of {MAX_RESULT}")
        return func(*args, **kwargs)

    return call


class TemplateRefused(ValueError):
    """A template uses something a spec template may not (include, random, ...)."""

    def __init__(self, message: str, lineno: int) -> None:
        super().__init__(message)
        self.lineno = lineno


def compile_template(source: str):
    """Parse, refuse what a spec template may not use (statically), and compile."""
    from jinja2 import nodes

    env = jinja_environment()
    tree = env.parse(source)
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        tag = _REFUSED_TAGS[type(node).__name__]
        raise TemplateRefused(f"{{% {tag} %}} is not allowed: a spec template cannot read other files",
                              node.lineno)
    for node in tree.find_all((nodes.Filter, nodes.Name)):
        name = node.name
        if name in _NONDETERMINISTIC and (isinstance(node, nodes.Filter) or node.ctx == "load"):
            raise TemplateRefused(f"'{name}' is not allowed: it makes every build different", node.lineno)
    return env.from_string(tree)


def render_template(template, where: str, **variables: Any) -> str:
    """Render; anything the template does wrong on this row becomes a ``TemplateError``."""
    import jinja2

    try:
        return template.render(**variables)
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{where}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{where}: not allowed in a template: {exc}") from None
    except RecursionError:
        raise TemplateError(f"{where}: recursion too deep (a macro calling itself?)") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError, MemoryError) as exc:
        raise TemplateError(f"{where}: {type(exc).__name__}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def compile_problems(spec: Spec, key: str, source: str | None, variables: dict[str, Any]) -> list[Problem]:
    """Compile and dry-render a Jinja template so syntax errors, refused features and errors on
    the sample values are reported at load time, located at the template key."""
    if source is None:
        return []
    import jinja2

    try:
        template = compile_template(source)
        render_template(template, "template", **variables)
    except jinja2.TemplateSyntaxError as exc:
        return [spec.problem(("template", key), f"template syntax error on its line {exc.lineno}: {exc.message}")]
    except TemplateRefused as exc:
        return [spec.problem(("template", key), f"on the template's line {exc.lineno}: {exc}")]
    except TemplateError as exc:
        message = str(exc).removeprefix("template: ")
        if "is undefined" in message:
            message += f"; available: {', '.join(sorted(variables))}"
        return [spec.problem(("template", key), message)]
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:  # the parser itself
        return [spec.problem(("template", key), f"template cannot be compiled: {_one_line(exc)}")]
    return []
