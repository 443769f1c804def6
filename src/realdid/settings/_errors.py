"""The one error of the settings package: a setting that cannot be used, said in one line."""

from __future__ import annotations


class SettingsError(Exception):
    """A setting is missing, malformed or out of range; the message names it and its source.

    The message is one line meant for the operator (``realdid serve`` prints it after
    ``error:``): which setting, where its value came from (a flag, an environment
    variable, the TOML file) and what is wrong with it.
    """

    code = "settings-invalid"
    http_status = 500  # a service that cannot be configured cannot serve

    def diagnostics(self) -> str:
        return str(self)
