"""The configuration file ``crm-connect.toml`` (or ``--config PATH``, or ``$CRM_CONNECT_CONFIG``).

Every mistake in it is a :class:`~crm_connect.errors.ConfigError` that names the file and, where
it can, the line: invalid TOML, an unknown top-level table, a connection naming a connector no
plugin provides, an unknown field, a secret written into the file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crm_connect.connector import ConnectionContext, Connector, ConnectorConfig
from crm_connect.currency import check_currency, check_rates
from crm_connect.errors import ConfigError, UnknownConnectorError
from crm_connect.plugins import get_connectors, get_stores
from crm_connect.secrets import env_var_name, tokens_file_for
from crm_connect.store_contract import Store

__all__ = ["Config", "ConnectionSettings", "find_config_path", "load_config", "open_store"]

CONFIG_FILENAME = "crm-connect.toml"
CONFIG_ENV = "CRM_CONNECT_CONFIG"


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = "duckdb:///crm.duckdb"
    memory_limit: str | None = Field(
        default=None, description="Cap on the store engine's memory, e.g. '1GB'."
    )


class ReportingSettings(BaseModel):
    """``[reporting]``: the currency KPIs are reported in and the rates into it.  Codes are
    ISO 4217 (three upper-case letters); a rate is how much of ``currency`` one unit is."""

    model_config = ConfigDict(extra="forbid")

    currency: str = Field(default="USD")
    rates: dict[str, Decimal] = Field(default_factory=dict)
    unify: bool = Field(default=False)
    """Count each customer ``crm-connect resolve`` unified once (``kpis --unify``)."""
    grain: Literal["week", "month", "quarter", "year"] = Field(
        default="month", description="The periods `crm-connect run` saves KPI snapshots at.")

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        try:
            return check_currency(value, "value")
        except ConfigError as exc:
            raise PydanticCustomError("currency_code", str(exc)) from None

    @field_validator("rates")
    @classmethod
    def _iso_rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        try:
            check_rates(value)
        except ConfigError as exc:
            raise PydanticCustomError("currency_rate", str(exc)) from None
        return value


Survivorship = Literal["most_recent", "most_complete"] | list[str]
"""How a golden record picks a field's value: from the most recently updated member that has
one, from the member with the most fields filled, or from the first source in a list."""


class ResolveSettings(BaseModel):
    """``[resolve]``: how ``crm-connect resolve`` decides and builds golden records."""

    model_config = ConfigDict(extra="forbid")

    survivorship: Survivorship = "most_recent"
    fields: dict[str, Survivorship] = Field(
        default_factory=dict, description="Per golden field, a survivorship of its own.")
    match_threshold: float = Field(default=0.9, gt=0, le=1)
    review_threshold: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _review_below_match(self) -> ResolveSettings:
        if self.review_threshold > self.match_threshold:
            raise ValueError("review_threshold must not be above match_threshold")
        return self


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float
    by: dt.date | None = None


@dataclass
class ConnectionSettings:
    """A ``[connections.NAME]`` table: the connector it uses and its validated options."""

    name: str
    connector: str
    options: ConnectorConfig
    line: int | None = None


@dataclass
class Config:
    path: Path | None
    base_dir: Path
    store: StoreSettings = field(default_factory=StoreSettings)
    reporting: ReportingSettings = field(default_factory=ReportingSettings)
    resolve: ResolveSettings = field(default_factory=ResolveSettings)
    connections: dict[str, ConnectionSettings] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    unusable: dict[str, ConfigError] = field(default_factory=dict)
    """Connections that could not be read, with why (only with ``keep_unusable=True``)."""

    def where(self, line: int | None = None) -> str:
        name = str(self.path) if self.path else CONFIG_FILENAME
        return f"{name}, line {line}" if line else name

    @property
    def tokens_file(self) -> Path:
        """Where rotated tokens are saved on a machine without a keyring (beside the store)."""
        return tokens_file_for(self.store.url, self.base_dir)

    def connection(self, name: str) -> ConnectionSettings:
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(self.connections) or "none"
            raise ConfigError(
                f"{self.where()}: no connection named {name!r} (configured: {known})"
            ) from None

    def build_connector(self, name: str) -> Connector[Any]:
        settings = self.connection(name)
        connector_class = get_connectors()[settings.connector]
        context = ConnectionContext(name, self.base_dir, self.tokens_file)
        return connector_class(context, settings.options)  # type: ignore[no-any-return]


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """``--config``, then ``$CRM_CONNECT_CONFIG``, then ``./crm-connect.toml``, else ``None``."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
        return path
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"${CONFIG_ENV} names {path}, which does not exist")
        return path
    default = Path.cwd() / CONFIG_FILENAME
    return default if default.is_file() else None


def _line_of_table(text: str, dotted: str) -> int | None:
    """The line of ``[a.b]`` (or ``b = {`` inside ``[a]``) in the TOML text, for messages."""
    parts = dotted.split(".")
    header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(
        rf'(?:{re.escape(p)}|"{re.escape(p)}")' for p in parts) + r"\s*\]\s*$")
    inline = re.compile(rf'^\s*(?:{re.escape(parts[-1])}|"{re.escape(parts[-1])}")\s*=\s*\{{')
    for number, line in enumerate(text.splitlines(), start=1):
        if header.match(line):
            return number
    for number, line in enumerate(text.splitlines(), start=1):
        if inline.match(line):
            return number
    return None


def _line_of_key(text: str, table_line: int | None, key: str) -> int | None:
    if table_line is None:
        return None
    lines = text.splitlines()
    pattern = re.compile(rf'^\s*(?:{re.escape(key)}|"{re.escape(key)}")\s*=')
    first = lines[table_line - 1]
    if "{" in first and re.search(rf"\b{re.escape(key)}\s*=", first.split("{", 1)[1]):
        return table_line
    for number in range(table_line, len(lines)):
        line = lines[number]
        if line.lstrip().startswith("["):
            break
        if pattern.match(line):
            return number + 1
    return table_line


def _describe_validation(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append((loc, f"unknown field {loc!r}"))
        elif error["type"] == "missing":
            problems.append((loc, f"missing field {loc!r}"))
        else:
            problems.append((loc, f"{loc}: {error['msg']}"))
    return problems


def parse_config(text: str, path: Path | None, base_dir: Path, *,
                 keep_unusable: bool = False) -> Config:
    where = str(path) if path else CONFIG_FILENAME
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from None

    config = Config(path=path, base_dir=base_dir)
    known = {"store", "reporting", "connections", "targets", "resolve"}
    for key in data:
        if key not in known:
            line = _line_of_table(text, key)
            raise ConfigError(
                f"{config.where(line)}: unknown table [{key}] "
                f"(expected: {', '.join(sorted(known))})"
            )

    for section, model in (("store", StoreSettings), ("reporting", ReportingSettings),
                           ("resolve", ResolveSettings)):
        try:
            setattr(config, section, model.model_validate(data.get(section, {})))
        except ValidationError as exc:
            loc, message = _describe_validation(exc)[0]
            line = _line_of_key(text, _line_of_table(text, section), loc.split(".")[0])
            raise ConfigError(f"{config.where(line)}: [{section}] {message}") from None

    for key, value in (data.get("targets") or {}).items():
        try:
            config.targets[key] = Target.model_validate(value)
        except ValidationError as exc:
            line = _line_of_key(text, _line_of_table(text, "targets"), key)
            _, message = _describe_validation(exc)[0]
            raise ConfigError(f"{config.where(line)}: target {key!r}: {message}") from None

    connections = data.get("connections") or {}
    if not isinstance(connections, dict):
        raise ConfigError(f"{where}: [connections] must be a table of connections")
    for name, table in connections.items():
        try:
            config.connections[name] = _parse_connection(config, text, name, table)
        except ConfigError as exc:
            if not keep_unusable:
                raise
            config.unusable[name] = exc
    return config


def _parse_connection(config: Config, text: str, name: str, table: Any) -> ConnectionSettings:
    line = _line_of_table(text, f"connections.{name}")
    if not isinstance(table, dict):
        raise ConfigError(f"{config.where(line)}: connection {name!r} must be a table")
    options = dict(table)
    connector_name = options.pop("connector", None)
    if not connector_name:
        raise ConfigError(
            f'{config.where(line)}: connection {name!r} has no connector = "..." '
            "(for example \"files\", or the name a connector plugin gives; see "
            "`crm-connect plugins list`)"
        )
    connectors = get_connectors()
    if connector_name not in connectors:
        known = ", ".join(sorted(connectors)) or "none"
        raise UnknownConnectorError(
            f"{config.where(line)}: connection {name!r} uses connector {connector_name!r}, "
            f"which no installed plugin provides (installed: {known}). Install its plugin, "
            f"e.g. `pip install crm-connect-{connector_name}`, then check "
            "`crm-connect plugins list`."
        )
    model: type[ConnectorConfig] = connectors[connector_name].config_model
    for secret in model.secret_fields:
        if secret in options:
            key_line = _line_of_key(text, line, secret)
            raise ConfigError(
                f"{config.where(key_line)}: connection {name!r} has its secret {secret!r} "
                f"in the file. Remove it and run `crm-connect auth set {name} {secret}`, or set "
                f"{env_var_name(name, secret)}."
            )
    try:
        validated = model.model_validate(options)
    except ValidationError as exc:
        loc, message = _describe_validation(exc)[0]
        key_line = _line_of_key(text, line, loc.split(".")[0])
        raise ConfigError(f"{config.where(key_line)}: connection {name!r}: {message}") from None
    return ConnectionSettings(name, connector_name, validated, line)


def load_config(explicit: str | os.PathLike[str] | None = None, *,
                required: bool = True, keep_unusable: bool = False) -> Config:
    """Find, read and validate the configuration.

    :param required: when no file is found, raise (``True``) or return an empty configuration.
    :param keep_unusable: a connection with an error of its own (e.g. an unknown connector)
        goes to :attr:`Config.unusable` instead of failing the whole file, so listings can
        show the others.
    """
    path = find_config_path(explicit)
    if path is None:
        if required:
            raise ConfigError(
                f"no configuration found: create {CONFIG_FILENAME} in this folder, pass "
                f"--config PATH, or set ${CONFIG_ENV} (see the README's quickstart)"
            )
        return Config(path=None, base_dir=Path.cwd())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
    return parse_config(text, path, path.resolve().parent, keep_unusable=keep_unusable)


def open_store(url: str, *, base_dir: Path, read_only: bool = False, wait_seconds: float = 0.0,
               memory_limit: str | None = None) -> Store:
    """Open the store a ``[store] url`` names, with the backend a plugin registered for its
    scheme (``duckdb://`` is the built-in one).

    :param base_dir: where a relative path in ``url`` starts (the configuration's folder).
    :param read_only: open for reading only (history, KPIs); a missing store reads as empty.
    :param wait_seconds: how long to wait for another process that holds the store.
    :raises ConfigError: no installed plugin handles the URL's scheme.
    """
    scheme = url.split("://", 1)[0] if "://" in url else ""
    stores = get_stores()
    if scheme not in stores:
        known = ", ".join(f"{name}://" for name in sorted(stores)) or "none"
        raise ConfigError(f"[store] url {url!r}: no store plugin handles it (known: {known})")
    store: Store = stores[scheme].open(url, base_dir=base_dir, read_only=read_only,
                                       wait_seconds=wait_seconds, memory_limit=memory_limit)
    return store
