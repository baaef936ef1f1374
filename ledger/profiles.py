"""Profiles: who you are when you write, kept in your own config directory.

A profile names the defaults of every write command: ``--actor``, ``--post`` and the
official's ``--key-file``. They live in ``$XDG_CONFIG_HOME/zq-ledger/profiles.toml`` (else
``~/.config/zq-ledger/profiles.toml``), a file only its owner may read, and are chosen with
``ledger --profile NAME`` or ``LEDGER_PROFILE``. Options given on the command line win over
the profile, and the profile over ``LEDGER_ACTOR`` / ``LEDGER_POST`` / ``LEDGER_KEY_FILE``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from ledger.kernel.errors import ConfigurationError
from ledger.kernel.i18n import _

#: The fields a profile may hold, in the order they are shown.
FIELDS = ("actor", "post", "key_file")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProfileError(ConfigurationError):
    """Raised when a profile is unknown, misnamed, or the profiles file cannot be read."""

    code = "profile"
    exit_code = 2


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/zq-ledger``, else ``~/.config/zq-ledger``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "zq-ledger"


def profiles_file() -> Path:
    """Where the profiles are kept."""
    return config_dir() / "profiles.toml"


def load_all() -> dict[str, dict[str, str]]:
    """Every profile, by name (none when the file does not exist)."""
    path = profiles_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ProfileError(_("cannot read the profiles in {path}: {reason}").format(
            path=path, reason=e)) from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ProfileError(_("{path}: [profiles] is not a table").format(path=path))
    return {str(name): {k: str(v) for k, v in fields.items() if k in FIELDS}
            for name, fields in profiles.items() if isinstance(fields, dict)}


def check_name(name: str) -> str:
    """*name* if it can name a profile (letters, digits, ``_ . -``)."""
    if not NAME.match(name):
        raise ProfileError(_("{name!r} cannot name a profile: use letters, digits, '_', '.' "
                             "and '-' (e.g. clerk)").format(name=name))
    return name


def get(name: str) -> dict[str, str]:
    """The profile *name*; :class:`ProfileError` naming the known ones if there is none."""
    profiles = load_all()
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or _("none yet")
        raise ProfileError(_(
            "no profile {name!r} (known: {known}); make one with 'ledger profile set {name} "
            "--actor PERSON --post POST --key-file PATH'").format(name=name, known=known))
    return profiles[name]


def _toml(profiles: dict[str, dict[str, str]]) -> str:
    # JSON strings are TOML basic strings (same escapes), and names are bare keys.
    lines = ["# Profiles of the Zhuanqiao governance ledger: ledger --profile NAME ...", ""]
    for name in sorted(profiles):
        lines.append(f"[profiles.{check_name(name)}]")
        lines += [f"{k} = {json.dumps(profiles[name][k], ensure_ascii=False)}"
                  for k in FIELDS if profiles[name].get(k)]
        lines.append("")
    return "\n".join(lines)


def save_all(profiles: dict[str, dict[str, str]]) -> Path:
    """Write every profile: the directory ``0700``, the file ``0600`` (replaced whole)."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = profiles_file()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(_toml(profiles))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def set_profile(name: str, **fields: str | None) -> dict[str, str]:
    """Create profile *name* or change the *fields* given; return it."""
    profiles = load_all()
    profile = profiles.setdefault(check_name(name), {})
    profile.update({k: v for k, v in fields.items() if k in FIELDS and v})
    save_all(profiles)
    return profile


def delete(name: str) -> None:
    """Remove profile *name*."""
    profiles = load_all()
    get(name)
    del profiles[name]
    save_all(profiles)
