"""The plugin manager: one lazy, idempotent loading path for built-in and third-party plugins.

Plugins are found through the ``crm_connect`` entry-point group.  Built-ins (the ``files``
connector, the DuckDB store, the KPI catalogue) are declared there by the ``crm-connect``
distribution itself and registered through the same ``pm.register(module, name)``: there is no
other path, so a checkout that was never installed (``pip install -e .``) says so instead of
running without them.

Environment variables:

``CRM_CONNECT_LOAD_PLUGINS``
    comma-separated allow-list of third-party plugins to load; set but empty loads none.
``CRM_CONNECT_DISABLED_PLUGINS``
    comma-separated plugins (built-ins included) never to load.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from crm_connect import hookspecs
from crm_connect.connector import Connector
from crm_connect.errors import PluginError

__all__ = [
    "PluginInfo",
    "call_registry_hook",
    "get_plugin_manager",
    "list_plugins",
    "load_plugins",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "crm_connect"
CORE_DISTRIBUTION = "crm-connect"
NOT_INSTALLED = (
    "crm-connect is not installed: run pip install -e . in its checkout (the built-in files "
    f"connector, DuckDB store and KPI catalogue load through its {ENTRY_POINT_GROUP!r} entry "
    "points, and none was found)"
)

pm = pluggy.PluginManager("crm_connect")
pm.add_hookspecs(hookspecs)

_lock = threading.Lock()
_loaded = False


@dataclass
class PluginInfo:
    name: str
    version: str | None
    hooks: list[str]
    builtin: bool
    module: str


@dataclass
class _Origin:
    builtin: bool
    version: str | None
    module: str


_origins: dict[str, _Origin] = {}


def _names_from_env(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _entry_points() -> Iterator[importlib.metadata.EntryPoint]:
    yield from importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _register(name: str, module: object, origin: _Origin) -> None:
    if pm.get_plugin(name) is not None or pm.is_blocked(name):
        return
    try:
        pm.register(module, name=name)
    except Exception as exc:  # pluggy validation errors, duplicate registrations
        raise PluginError(f'Error loading plugin "{name}": {exc}') from exc
    _origins[name] = origin


def load_plugins() -> pluggy.PluginManager:
    """Load every plugin once; later calls return the same manager at no cost."""
    global _loaded
    if _loaded:
        return pm
    with _lock:
        if _loaded:
            return pm
        allowed = _names_from_env("CRM_CONNECT_LOAD_PLUGINS")
        disabled = _names_from_env("CRM_CONNECT_DISABLED_PLUGINS") or set()
        for name in disabled:
            pm.set_blocked(name)
        core_found = False
        for ep in _entry_points():
            dist = ep.dist.metadata["Name"] if ep.dist is not None else None
            builtin = dist is not None and dist.lower() == CORE_DISTRIBUTION
            core_found = core_found or builtin
            if ep.name in disabled:
                continue
            if not builtin and allowed is not None and ep.name not in allowed:
                continue
            try:
                module = ep.load()
            except Exception as exc:
                raise PluginError(f'Error loading plugin "{ep.name}": {exc}') from exc
            version = ep.dist.version if ep.dist is not None else None
            _register(ep.name, module, _Origin(builtin, version, ep.value))
        if not core_found:
            raise PluginError(NOT_INSTALLED)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f'Error loading plugin "{exc.plugin}": {exc}') from exc
        _loaded = True
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    return load_plugins()


def reset_plugins() -> None:
    """Forget every plugin and what they contributed, so that the next :func:`load_plugins`
    reads the entry points and ``CRM_CONNECT_LOAD_PLUGINS`` / ``CRM_CONNECT_DISABLED_PLUGINS``
    again, as a new process would (tests; applications that change either at run time)."""
    global _loaded
    with _lock:
        for name, plugin in pm.list_name_plugin():
            if plugin is None:
                pm.unblock(name)
            else:
                pm.unregister(plugin, name=name)
        _origins.clear()
        _clear_registries()
        _loaded = False


def call_registry_hook(hook_name: str, make_register: Callable[[str], Callable[..., None]],
                       **kwargs: Any) -> None:
    """Call each implementation of a ``register_*`` hook with a ``register`` bound to its plugin.

    The host learns which plugin contributed what, and an exception inside one implementation
    is reported with the plugin's and the hook's names.
    """
    load_plugins()
    caller = getattr(pm.hook, hook_name)
    for impl in caller.get_hookimpls():
        name = impl.plugin_name
        try:
            impl.function(register=make_register(name), **kwargs)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(
                f'Plugin "{name}" raised in hook {hook_name}: {type(exc).__name__}: {exc}'
            ) from exc


def call_hook(hook_name: str, **kwargs: Any) -> list[Any]:
    """Call every implementation of a notification hook, naming the plugin on failure."""
    load_plugins()
    caller = getattr(pm.hook, hook_name)
    results: list[Any] = []
    for impl in caller.get_hookimpls():
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            results.append(impl.function(**args))
        except Exception as exc:
            raise PluginError(
                f'Plugin "{impl.plugin_name}" raised in hook {hook_name}: '
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return results


def has_implementations(hook_name: str) -> bool:
    load_plugins()
    return bool(getattr(pm.hook, hook_name).get_hookimpls())


def list_plugins() -> list[PluginInfo]:
    """Every registered plugin with its version and the hooks it implements."""
    load_plugins()
    infos: list[PluginInfo] = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        origin = _origins.get(name, _Origin(False, None, getattr(plugin, "__name__", "")))
        infos.append(PluginInfo(name, origin.version, hooks, origin.builtin, origin.module))
    return sorted(infos, key=lambda info: (not info.builtin, info.name))


def register_plugin(module: ModuleType | object, name: str) -> None:
    """Register an object as a plugin at run time (tests, embedding applications)."""
    load_plugins()
    _register(name, module, _Origin(False, None, getattr(module, "__name__", repr(module))))
    pm.check_pending()
    _clear_registries()


def unregister_plugin(name: str) -> None:
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin, name=name)
    _origins.pop(name, None)
    _clear_registries()


@dataclass
class Registry:
    """What the ``register_*`` hooks contributed: key to (value, plugin name)."""

    kind: str
    items: dict[str, tuple[Any, str]] = field(default_factory=dict)

    def register_for(self, plugin: str, key: str, value: Any) -> None:
        if key in self.items:
            other = self.items[key][1]
            raise PluginError(
                f'{self.kind} {key!r} is registered by both plugin "{other}" and plugin '
                f'"{plugin}"; uninstall or disable one (CRM_CONNECT_DISABLED_PLUGINS).'
            )
        self.items[key] = (value, plugin)


_registries: dict[str, Registry] = {}


def _clear_registries() -> None:
    _registries.clear()


def _connector_registry() -> Registry:
    if "connectors" not in _registries:
        registry = Registry("connector")

        def make_register(plugin: str) -> Callable[..., None]:
            def register(connector_class: type[Connector[Any]]) -> None:
                is_class = isinstance(connector_class, type)
                if not (is_class and issubclass(connector_class, Connector)):
                    raise PluginError(
                        f'Plugin "{plugin}" registered {connector_class!r}, '
                        "which is not a crm_connect.Connector subclass"
                    )
                registry.register_for(plugin, connector_class.name, connector_class)

            return register

        call_registry_hook("register_connectors", make_register)
        _registries["connectors"] = registry
    return _registries["connectors"]


def get_connectors() -> dict[str, Any]:
    """Connector name to connector class, from every plugin."""
    return {key: value for key, (value, _) in _connector_registry().items.items()}


def connector_plugin(name: str) -> str:
    """The plugin that contributed connector ``name``."""
    return _connector_registry().items[name][1]


def get_stores() -> dict[str, Any]:
    """URL scheme to store class, from every plugin."""
    if "stores" not in _registries:
        registry = Registry("store")

        def make_register(plugin: str) -> Callable[..., None]:
            def register(scheme: str, store_class: Any) -> None:
                registry.register_for(plugin, scheme, store_class)

            return register

        call_registry_hook("register_stores", make_register)
        _registries["stores"] = registry
    return {key: value for key, (value, _) in _registries["stores"].items.items()}


def get_demo_sandboxes() -> dict[str, tuple[Any, str]]:
    """Connection name to (:class:`~crm_connect.sandboxes.DemoSandbox`, plugin name), from
    every plugin's ``register_demo_sandboxes``, in plugin registration order."""
    from crm_connect.sandboxes import DemoSandbox

    if "demo_sandboxes" not in _registries:
        registry = Registry("demo sandbox")

        def make_register(plugin: str) -> Callable[..., None]:
            def register(sandbox: DemoSandbox) -> None:
                if not isinstance(sandbox, DemoSandbox):
                    raise PluginError(
                        f'Plugin "{plugin}" registered {sandbox!r}, which is not a '
                        "crm_connect.sandboxes.DemoSandbox")
                registry.register_for(plugin, sandbox.connection, sandbox)

            return register

        call_registry_hook("register_demo_sandboxes", make_register)
        _registries["demo_sandboxes"] = registry
    return dict(_registries["demo_sandboxes"].items)
