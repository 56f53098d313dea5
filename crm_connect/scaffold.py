"""``crm-connect new-plugin NAME``: scaffold a complete vendor plugin distribution.

The scaffold is a working plugin from the first minute: ``crm-connect-NAME`` with its entry
point, hook implementations, vendor profile, a connector with one incremental stream (deletes
included) that reads a small JSON fixture served by a loopback sandbox, tests that run the
conformance suite, a ``cassettes/`` folder with a scrubbing VCR configuration, and a README.
The author then points the connector at the vendor's real API.

The files come from ``crm_connect/templates/plugin/`` (shipped as package data): every file
there ending in ``.tmpl`` is written without that suffix after :class:`string.Template`
substitution of the names below; a directory named ``__module__`` becomes the plugin's module.

``$name``        the connector name (``acme``)
``$module``      the import name (``crm_connect_acme``)
``$dist``        the distribution name (``crm-connect-acme``)
``$title``       the class-name prefix (``Acme``)
``$env_prefix``  the environment prefix of the sandbox connection's secrets
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from crm_connect.errors import ConfigError

__all__ = [
    "RESERVED_NAMES",
    "ScaffoldedPlugin",
    "plugin_names",
    "render_templates",
    "scaffold_plugin",
    "validate_plugin_name",
]

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MAX_LENGTH = 40
_MODULE_PLACEHOLDER = "__module__"
_TEMPLATE_SUFFIX = ".tmpl"

#: Names the core itself uses for its built-in plugins and modules.
RESERVED_NAMES = frozenset({"files", "duckdb", "kpis", "testing", "core"})


def _taken_names() -> set[str]:
    """The reserved names and those of the plugins installed here (entry points of group
    ``crm_connect``): a new plugin must not shadow one a user may already have."""
    installed = {entry.name for entry in metadata.entry_points(group="crm_connect")}
    return set(RESERVED_NAMES) | installed


def validate_plugin_name(name: str) -> str:
    """Check that ``name`` can name a connector, a module and a distribution; return it.

    A plugin name is lowercase ASCII letters, digits and underscores, starting with a letter
    (``acme``, ``tiny_crm``), at most 40 characters, not a Python keyword, and not a name the
    core or an installed plugin uses.

    :raises ConfigError: with what is wrong and a name that would do.
    """
    if name in _taken_names():
        raise ConfigError(f"The plugin name {name!r} is taken by crm-connect or a plugin "
                          f"installed here: choose another, e.g. {name}_crm.")
    if not _NAME.fullmatch(name) or keyword.iskeyword(name) or len(name) > _MAX_LENGTH:
        suggestion = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        if suggestion and not suggestion[0].isalpha():
            suggestion = f"crm_{suggestion}"
        if keyword.iskeyword(suggestion):
            suggestion = f"{suggestion}_crm"
        hint = (f" Try {suggestion[:_MAX_LENGTH]!r}."
                if suggestion and suggestion != name else "")
        raise ConfigError(
            f"{name!r} cannot name a plugin: use lowercase letters, digits and underscores, "
            f"starting with a letter, at most {_MAX_LENGTH} characters and not a Python "
            "keyword: it becomes the connector name, the module crm_connect_NAME and the "
            f"distribution crm-connect-NAME.{hint}")
    return name


def plugin_names(name: str) -> dict[str, str]:
    """The names a plugin called ``name`` goes by (the template's substitutions)."""
    validate_plugin_name(name)
    return {
        "name": name,
        "module": f"crm_connect_{name}",
        "dist": f"crm-connect-{name.replace('_', '-')}",
        "title": "".join(part.capitalize() for part in name.split("_")),
        "env_prefix": f"CRM_CONNECT_{name.upper()}",
    }


@dataclass
class ScaffoldedPlugin:
    """What :func:`scaffold_plugin` wrote.

    :param root: the distribution's folder.
    :param files: every file written, relative to ``root``, in writing order.
    :param names: the names the plugin goes by (see :func:`plugin_names`).
    """

    root: Path
    files: list[Path] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    def next_steps(self) -> list[str]:
        """The commands that take the author from the scaffold to a tested plugin."""
        return [
            f"cd {self.root}",
            'python -m pip install -e ".[test]"',
            "python -m pytest --record-mode=once   # records the cassettes from the sandbox",
            "python -m pytest                      # replays them, as CI does",
            f"then point {self.names['module']}/connector.py at the real API "
            "(README.md says where)",
        ]


def _template_root() -> Traversable:
    return resources.files("crm_connect").joinpath("templates", "plugin")


def _walk(folder: Traversable, relative: Path) -> list[tuple[Path, Traversable]]:
    """Every template file under ``folder``, sorted, with its path relative to the root."""
    found: list[tuple[Path, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found.extend(_walk(entry, relative / entry.name))
        else:
            found.append((relative / entry.name, entry))
    return found


def _target(relative: Path, names: dict[str, str]) -> Path:
    parts = [names["module"] if part == _MODULE_PLACEHOLDER else part for part in relative.parts]
    target = Path(*parts)
    if target.name.endswith(_TEMPLATE_SUFFIX):
        target = target.with_name(target.name[: -len(_TEMPLATE_SUFFIX)])
    return target


def render_templates(name: str) -> dict[Path, str]:
    """The files of a plugin called ``name``, relative path to text, without writing them."""
    names = plugin_names(name)
    rendered: dict[Path, str] = {}
    for relative, entry in _walk(_template_root(), Path()):
        text = entry.read_text(encoding="utf-8")
        if relative.name.endswith(_TEMPLATE_SUFFIX):
            try:
                text = Template(text).substitute(names)
            except (KeyError, ValueError) as exc:  # a broken template is a bug of crm-connect
                raise RuntimeError(f"template {relative} does not render: {exc}") from exc
        rendered[_target(relative, names)] = text
    return rendered


def scaffold_plugin(name: str, directory: Path | None = None) -> ScaffoldedPlugin:
    """Write the plugin distribution ``crm-connect-NAME`` into ``directory`` (default: the
    current one), in a new folder of that name.

    :raises ConfigError: when ``name`` cannot name a plugin, or when the folder already exists
        (nothing is ever overwritten).
    """
    names = plugin_names(name)
    parent = Path.cwd() if directory is None else Path(directory)
    root = parent / names["dist"]
    if root.exists():
        raise ConfigError(f"{root} already exists: crm-connect never overwrites a folder. "
                          "Remove it, or pass --dir to scaffold somewhere else.")
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"--dir {parent} is a file, not a folder.")
    files = render_templates(name)
    try:
        root.mkdir(parents=True)
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot write the plugin into {root}: {exc.strerror or exc}. "
                          "Choose a folder you can write to with --dir.") from exc
    return ScaffoldedPlugin(root=root, files=list(files), names=names)
