"""Russian for the command line's own words (click/typer print "Usage", "Options", ... in English).

click translates its messages through ``gettext``; we give its modules a
translation table instead of a compiled catalogue, and set typer's panel titles.
Imported by :mod:`vsoko_toolkit.cli` before the app is built.
"""

from __future__ import annotations

import importlib

import typer.core
import typer.rich_utils as ru

RU = {
    "Show this message and exit.": "Показать эту справку и выйти.",
    "Usage:": "Использование:",
    "Options": "Параметры",
    "Missing command.": "Не указана команда.",
    "Missing argument": "Не указан аргумент",
    "Missing option": "Не указан параметр",
    "Invalid value: {message}": "Недопустимое значение: {message}",
    "Invalid value for {param_hint}: {message}": "Недопустимое значение {param_hint}: {message}",
    "No such option {name!r}.": "Нет такого параметра {name!r}.",
    "No such command {name!r}.": "Нет такой команды {name!r}.",
    "Error": "Ошибка",
    "Arguments": "Аргументы",
    "Commands": "Команды",
    "Aborted!": "Прервано.",
    "required": "обязательно",
    "default: {default}": "по умолчанию: {default}",
}


def _(message: str) -> str:
    return RU.get(message, message)


# typer vendors its own click (typer._click) in recent releases; older ones use click itself
for base in ("typer._click", "click"):
    for name in ("core", "decorators", "exceptions", "formatting"):
        try:
            importlib.import_module(f"{base}.{name}")._ = _
        except ImportError:
            pass
typer.core._ = _

try:  # typer >= 0.2x vendors click with its English strings written in; translate at the seams
    from typer._click import decorators as _dec
    from typer._click import exceptions as _exc
    from typer._click import formatting as _fmt

    _help_option = _dec.help_option

    def _help_option_ru(param_decls):
        add = _help_option(param_decls)

        def apply(cmd):
            cmd = add(cmd)
            cmd.params[-1].help = RU["Show this message and exit."]
            return cmd

        return apply

    _dec.help_option = _help_option_ru
    _write_usage = _fmt.HelpFormatter.write_usage
    _fmt.HelpFormatter.write_usage = lambda self, prog, args="", prefix=None: _write_usage(
        self, prog, args, "Использование: " if prefix is None else prefix)
    _missing = _exc.MissingParameter.format_message
    _exc.MissingParameter.format_message = lambda self: (
        _missing(self).replace("Missing argument", "Не указан аргумент")
        .replace("Missing option", "Не указан параметр").replace("Missing parameter", "Не указан параметр"))
except (ImportError, AttributeError):  # another typer: its own words stay in English
    pass

ru.ARGUMENTS_PANEL_TITLE = "Аргументы"
ru.OPTIONS_PANEL_TITLE = "Параметры"
ru.COMMANDS_PANEL_TITLE = "Команды"
ru.ERRORS_PANEL_TITLE = "Ошибка"
ru.ABORTED_TEXT = "Прервано."
ru.RICH_HELP = "Справка: [blue]'{command_path} {help_option}'[/]."
ru.REQUIRED_LONG_STRING = "[обязательно]"
ru.DEFAULT_STRING = "[по умолчанию: {}]"
