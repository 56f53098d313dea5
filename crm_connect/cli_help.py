"""Help texts in the classic form: ``CONNECTION``, ``[CONNECTION]...``, no Python types.

typer 0.29 writes a required argument as ``{connection}`` and adds the Python type to each
(``<list[str]>``); people reading ``--help`` want the argument's name, as every other command
line writes it.  :func:`use_plain_argument_help` switches typer's arguments to that form; it is
called once, where the app is built.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument

__all__ = ["use_plain_argument_help"]


def _no_type(self: TyperArgument, ctx: Any) -> str:
    return ""


def _usage_name(self: TyperArgument) -> str:
    name = self.metavar or (self.name or "").upper()
    shown = name if self.required else f"[{name}]"
    return shown + ("..." if self.nargs != 1 else "")


def _help_name(self: TyperArgument) -> str:
    return _usage_name(self)


def use_plain_argument_help() -> None:
    """Make every typer argument show its upper-case name and no Python type in help."""
    TyperArgument.display_type = _no_type  # type: ignore[method-assign,assignment]
    TyperArgument.display_type_rich = _no_type  # type: ignore[method-assign,assignment]
    TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
    TyperArgument._rich_display_name = _help_name  # type: ignore[method-assign]
