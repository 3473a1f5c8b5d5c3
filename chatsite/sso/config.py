"""The sign-in settings: local passwords, LDAP / Active Directory, OpenID Connect providers.

Read from the environment by settings.py, which calls these functions once near its end (its
env_* helpers exist by then); every variable is in the README's settings table. Nothing here
imports the LDAP or OIDC libraries unless their settings are on, so both stay optional extras.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from chatsite.settings import env_bool, env_float, env_list, env_str

BACKENDS = {
    "local": "chatsite.sso.backends.LocalPasswordBackend",
    "ldap": "chatsite.sso.directory.DirectoryBackend",
    "oidc": "chatsite.sso.oidc.ProviderBackend",
}

# Values of a per-provider variable OIDC_<NAME>_<SUFFIX>, with their defaults (None: required).
OIDC_VARIABLES = {
    "ISSUER": None,
    "CLIENT_ID": None,
    "CLIENT_SECRET": "",
    "LABEL": "",
    "SCOPES": "openid email profile",
    "USERNAME_CLAIM": "preferred_username",
    "GROUPS_CLAIM": "groups",
    "GROUPS": "",
    "STAFF_GROUPS": "",
    "SUPERUSER_GROUPS": "",
}


@dataclass(frozen=True)
class GroupMapping:
    """Which groups from a directory or a provider become chatsite groups, and which make staff and
    superusers. mirror_all: the user's chatsite groups become exactly theirs (by name); otherwise
    only the groups in `names` (their value there -> the chatsite group's name) are kept in step,
    and others an admin gave are left alone. staff/superuser None: those flags are left alone."""

    mirror_all: bool = False
    names: tuple[tuple[str, str], ...] = ()
    staff: frozenset[str] | None = None
    superuser: frozenset[str] | None = None


@dataclass(frozen=True)
class OidcProvider:
    name: str  # lower case, in the URLs: /sso/oidc/<name>/login/ and .../callback/
    label: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    username_claim: str
    groups_claim: str
    groups: GroupMapping

    @property
    def origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"


def _values(text: str, separator: str) -> frozenset[str] | None:
    values = frozenset(item.strip() for item in text.split(separator) if item.strip())
    return values or None


def group_mapping(groups: str, staff: str, superuser: str, *, separator: str = ",") -> GroupMapping:
    """GROUPS is `*` or a comma-separated list of `value` or `chatsite name=value` entries; STAFF_
    and SUPERUSER_GROUPS list values (separated by `;` for LDAP, whose group DNs hold commas)."""
    staff_values, superuser_values = _values(staff, separator), _values(superuser, separator)
    if groups.strip() == "*":
        return GroupMapping(mirror_all=True, staff=staff_values, superuser=superuser_values)
    names = []
    for entry in filter(None, (item.strip() for item in groups.split(","))):
        name, _, value = entry.rpartition("=")
        names.append((value.strip(), (name or value).strip()))
    return GroupMapping(names=tuple(names), staff=staff_values, superuser=superuser_values)


def local_passwords() -> bool:
    """Off: only superusers (the first-run admin among them) sign in with a chatsite password."""
    return env_bool("LOCAL_PASSWORDS", True)


def timeout() -> float:
    return env_float("SSO_TIMEOUT", 10)


def oidc_providers() -> list[OidcProvider]:
    providers = []
    for raw in env_list("OIDC_PROVIDERS", ""):
        name = raw.lower()
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", name):
            raise ImproperlyConfigured(f"OIDC_PROVIDERS: {raw!r} is not a name of letters, digits and dashes")
        prefix = f"OIDC_{name.upper().replace('-', '_')}_"
        values = {}
        for suffix, default in OIDC_VARIABLES.items():
            value = os.environ.get(prefix + suffix, "").strip()
            if not value and default is None:
                raise ImproperlyConfigured(f"{prefix}{suffix} must be set for the OIDC provider {name!r}")
            values[suffix] = value or (default or "")
        issuer = values["ISSUER"].rstrip("/")
        if urlsplit(issuer).scheme not in ("https", "http"):
            raise ImproperlyConfigured(f"{prefix}ISSUER must be an https:// URL, not {issuer!r}")
        providers.append(
            OidcProvider(
                name=name,
                label=values["LABEL"] or raw,
                issuer=issuer,
                client_id=values["CLIENT_ID"],
                client_secret=values["CLIENT_SECRET"],
                scopes=values["SCOPES"],
                username_claim=values["USERNAME_CLAIM"],
                groups_claim=values["GROUPS_CLAIM"],
                groups=group_mapping(values["GROUPS"], values["STAFF_GROUPS"], values["SUPERUSER_GROUPS"]),
            )
        )
    if len({p.name for p in providers}) != len(providers):
        raise ImproperlyConfigured("OIDC_PROVIDERS names a provider twice")
    return providers


def ldap_settings() -> dict:
    """django-auth-ldap's AUTH_LDAP_* settings from LDAP_*; empty when LDAP_SERVER_URI is not set."""
    uri = env_str("LDAP_SERVER_URI").strip()
    if not uri:
        return {}
    try:
        import ldap
        from django_auth_ldap import config as ldap_config
    except ImportError:
        raise ImproperlyConfigured(
            "LDAP_SERVER_URI is set but the ldap extra is not installed: ./dev serve installs it "
            "(or pip install -e '.[ldap]')"
        ) from None
    group_types = {
        "groupofnames": ldap_config.NestedGroupOfNamesType,
        "groupofuniquenames": ldap_config.NestedGroupOfUniqueNamesType,
        "activedirectory": ldap_config.NestedActiveDirectoryGroupType,
        "posixgroup": ldap_config.PosixGroupType,
    }
    group_type = env_str("LDAP_GROUP_TYPE", "groupOfNames")
    if group_type.lower() not in group_types:
        raise ImproperlyConfigured(f"LDAP_GROUP_TYPE must be one of {', '.join(group_types)}, not {group_type!r}")
    seconds = timeout()
    # OPT_REFERRALS off: Active Directory answers searches from its root with referrals that
    # python-ldap would chase anonymously (and fail on).
    options: dict = {ldap.OPT_NETWORK_TIMEOUT: seconds, ldap.OPT_TIMEOUT: seconds, ldap.OPT_REFERRALS: 0}
    if ca_file := env_str("LDAP_CA_FILE"):
        options[ldap.OPT_X_TLS_CACERTFILE] = ca_file
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: applies the TLS options above to this connection
    user_attrs = {}
    for pair in env_list("LDAP_USER_ATTRS", "first_name=givenName,last_name=sn,email=mail"):
        field, _, attribute = pair.partition("=")
        if field.strip() not in ("first_name", "last_name", "email") or not attribute.strip():
            raise ImproperlyConfigured(f"LDAP_USER_ATTRS: {pair!r} is not first_name, last_name or email=attribute")
        user_attrs[field.strip()] = attribute.strip()
    mapping = group_mapping(
        env_str("LDAP_GROUPS"), env_str("LDAP_STAFF_GROUPS"), env_str("LDAP_SUPERUSER_GROUPS"), separator=";"
    )
    flags = {}
    if mapping.staff is not None:
        flags["is_staff"] = sorted(mapping.staff)
    if mapping.superuser is not None:
        flags["is_superuser"] = sorted(mapping.superuser)
    group_base = env_str("LDAP_GROUP_BASE")
    user_base = env_str("LDAP_USER_BASE")
    if not user_base:
        raise ImproperlyConfigured("LDAP_USER_BASE must be set with LDAP_SERVER_URI, e.g. ou=people,dc=example,dc=com")
    result = {
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_START_TLS": env_bool("LDAP_START_TLS", False),
        "AUTH_LDAP_BIND_DN": env_str("LDAP_BIND_DN"),
        "AUTH_LDAP_BIND_PASSWORD": env_str("LDAP_BIND_PASSWORD"),
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        # %(user)s is escaped by django-auth-ldap (ldap.filter.escape_filter_chars): a username
        # such as "*)(uid=*" matches nobody.
        "AUTH_LDAP_USER_SEARCH": ldap_config.LDAPSearch(
            user_base, ldap.SCOPE_SUBTREE, env_str("LDAP_USER_FILTER", "(uid=%(user)s)")
        ),
        "AUTH_LDAP_USER_ATTR_MAP": user_attrs,
        "AUTH_LDAP_USER_FLAGS_BY_GROUP": flags,
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_FIND_GROUP_PERMS": False,
        "AUTH_LDAP_CACHE_TIMEOUT": 0,  # groups are read afresh at each sign-in
        "AUTH_LDAP_REQUIRE_GROUP": env_str("LDAP_REQUIRE_GROUP") or None,
        "AUTH_LDAP_DENY_GROUP": env_str("LDAP_DENY_GROUP") or None,
    }
    if group_base:
        result["AUTH_LDAP_GROUP_SEARCH"] = ldap_config.LDAPSearch(
            group_base, ldap.SCOPE_SUBTREE, env_str("LDAP_GROUP_FILTER", "(objectClass=*)")
        )
        result["AUTH_LDAP_GROUP_TYPE"] = group_types[group_type.lower()](name_attr="cn")
        if mapping.mirror_all:
            result["AUTH_LDAP_MIRROR_GROUPS"] = True
        elif mapping.names:
            # django-auth-ldap mirrors a group under its cn: no other name.
            if any(value != name for value, name in mapping.names):
                raise ImproperlyConfigured("LDAP_GROUPS lists group cns (no name=value: the group keeps its cn)")
            result["AUTH_LDAP_MIRROR_GROUPS"] = [value for value, _name in mapping.names]
    elif mapping.mirror_all or mapping.names or flags or result["AUTH_LDAP_REQUIRE_GROUP"]:
        raise ImproperlyConfigured("LDAP_GROUP_BASE must be set to map directory groups")
    return result


def backends(ldap_on: bool, oidc_on: bool) -> list[str]:
    return [BACKENDS["local"]] + [BACKENDS["ldap"]] * ldap_on + [BACKENDS["oidc"]] * oidc_on
