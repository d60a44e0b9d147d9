"""The committed project config ``ftspec.toml``: named remotes, never credentials.

::

    [core]
    remote = "origin"                 # the default remote

    [remotes.origin]
    url = "s3://team-bucket/ftspec"
    [remotes.origin.options]          # non-secret fsspec options, e.g. an endpoint
    endpoint_url = "https://minio.example.com"

Credentials come from the environment and each backend's usual config (``AWS_*`` and
``~/.aws``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``~/.ssh``...): an option whose name looks
like a secret is refused, so the file stays safe to commit.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError, did_you_mean
from ftspec.util import atomic_write_text

CONFIG_NAME = "ftspec.toml"
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "sas", "signature")


class RemoteConfigError(FtspecError):
    """The project's remotes are missing, unknown or badly declared."""


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProjectConfig:
    path: Path
    default: str | None = None
    remotes: dict[str, RemoteSpec] = field(default_factory=dict)

    def remote(self, name: str | None = None) -> RemoteSpec:
        """The remote called ``name``, or the default one."""
        if name is None:
            if self.default is None:
                raise RemoteConfigError(
                    f"{self.path.name}: no remote configured",
                    hint="add one: ftspec remote add NAME URL")
            name = self.default
        if name not in self.remotes:
            known = ", ".join(sorted(self.remotes)) or "none"
            raise RemoteConfigError(
                f"{self.path.name}: unknown remote '{name}'{did_you_mean(name, self.remotes)}; known: {known}")
        return self.remotes[name]


def config_path(root: Path) -> Path:
    return Path(root) / CONFIG_NAME


def _line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    return 1


def check_option_name(name: str) -> None:
    lowered = name.lower()
    if any(word in lowered for word in SECRET_WORDS):
        raise RemoteConfigError(
            f"option '{name}' looks like a credential; {CONFIG_NAME} is committed, so credentials "
            "come from the environment or the backend's own config (e.g. AWS_ACCESS_KEY_ID, ~/.aws)")


def load_config(root: Path) -> ProjectConfig:
    path = config_path(root)
    if not path.is_file():
        return ProjectConfig(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RemoteConfigError(f"{path.name}: {exc}") from None
    core = data.get("core") or {}
    remotes: dict[str, RemoteSpec] = {}
    for name, entry in (data.get("remotes") or {}).items():
        where = f"{path.name}:{_line_of(text, f'[remotes.{name}]')}"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str) or not entry["url"]:
            raise RemoteConfigError(f"{where}: remotes.{name}.url: a remote needs a url string")
        options = entry.get("options") or {}
        for option in options:
            try:
                check_option_name(option)
            except RemoteConfigError as exc:
                line = _line_of(text, option)
                raise RemoteConfigError(f"{path.name}:{line}: remotes.{name}.options.{exc.message}") from None
        remotes[name] = RemoteSpec(name, entry["url"], dict(options))
    default = core.get("remote")
    if default is not None and default not in remotes:
        raise RemoteConfigError(f"{path.name}:{_line_of(text, 'remote =')}: core.remote: "
                                f"'{default}' is not a declared remote{did_you_mean(default, remotes)}")
    return ProjectConfig(path, default, remotes)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def dumps_config(config: ProjectConfig) -> str:
    lines = ["# ftspec project settings; committed. Credentials never go here: they are read",
             "# from the environment and each storage backend's usual config.", ""]
    if config.default:
        lines += ["[core]", f"remote = {_toml_value(config.default)}", ""]
    for name in sorted(config.remotes):
        remote = config.remotes[name]
        lines += [f"[remotes.{name}]", f"url = {_toml_value(remote.url)}", ""]
        if remote.options:
            lines.append(f"[remotes.{name}.options]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in sorted(remote.options.items())]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line; true/false and integers are typed."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise RemoteConfigError(f"--option {text!r}: expected KEY=VALUE")
    check_option_name(key)
    if value in ("true", "false"):
        return key, value == "true"
    if re.fullmatch(r"-?\d+", value):
        return key, int(value)
    return key, value


def add_remote(root: Path, name: str, url: str, *, options: dict[str, Any] | None = None,
               default: bool = False, force: bool = False) -> ProjectConfig:
    """Declare a remote (the first one becomes the default) and rewrite ``ftspec.toml``."""
    from ftspec.artifacts.store import check_url

    if not NAME_RE.match(name):
        raise RemoteConfigError(f"remote name '{name}': use letters, digits, '-' and '_' (start with a letter)")
    check_url(url)
    for option in options or {}:
        check_option_name(option)
    config = load_config(root)
    if name in config.remotes and not force and config.remotes[name].url != url:
        raise RemoteConfigError(f"{config.path.name}: remote '{name}' already exists "
                                f"({config.remotes[name].url}); use --force to replace it")
    config.remotes[name] = RemoteSpec(name, url, dict(options or {}))
    if default or config.default is None:
        config.default = name
    atomic_write_text(config.path, dumps_config(config))
    return config


def remove_remote(root: Path, name: str) -> ProjectConfig:
    config = load_config(root)
    config.remote(name)
    del config.remotes[name]
    if config.default == name:
        config.default = min(config.remotes) if config.remotes else None
    atomic_write_text(config.path, dumps_config(config))
    return config
