"""One settings object for the serving commands: flags, environment, TOML file, defaults.

``realdid serve`` and ``realdid authority serve`` build a :class:`RealDIDSettings` with
:func:`load_settings` and hand its ``node_config()``, ``authority_config()``,
``face_matcher()``, ``demo_settings()`` and ``bridge_lifetimes()`` to the services.
``docs/configuration.md`` lists every setting. Example::

    >>> from realdid.settings import Flag, load_settings
    >>> settings = load_settings({"node.data_dir": Flag("--data-dir", "/srv/realdid")})
    >>> settings.authority_settings().data_dir.as_posix()
    '/srv/realdid/authority'
"""

from __future__ import annotations

from ._errors import SettingsError
from ._reference import reference_table
from ._sections import (
    FACE_MATCHERS,
    AuthoritySection,
    BridgeSection,
    DemoSection,
    HttpSection,
    LedgerKind,
    LogSection,
    NodeSection,
    RateLimitSection,
)
from ._settings import RealDIDSettings
from ._sources import CONFIG_ENV, Flag, env_name, load_settings

__all__ = [
    "CONFIG_ENV",
    "FACE_MATCHERS",
    "AuthoritySection",
    "BridgeSection",
    "DemoSection",
    "Flag",
    "HttpSection",
    "LedgerKind",
    "LogSection",
    "NodeSection",
    "RateLimitSection",
    "RealDIDSettings",
    "SettingsError",
    "env_name",
    "load_settings",
    "reference_table",
]
