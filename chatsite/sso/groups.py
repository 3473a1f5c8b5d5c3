"""Groups, staff and superuser from what a provider says of a user (OpenID Connect claims);
django-auth-ldap does the same for directory groups from the same GroupMapping settings."""

from collections.abc import Iterable

from django.contrib.auth.models import Group

from chatsite.sso.config import GroupMapping

_NAME_LENGTH = Group._meta.get_field("name").max_length


def claim_values(claims: dict, path: str) -> set[str]:
    """The strings at a claim, which may be nested (Keycloak's `realm_access.roles`)."""
    value: object = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return {value}
    if isinstance(value, Iterable) and not isinstance(value, dict):
        return {item for item in value if isinstance(item, str)}
    return set()


def apply(user, values: set[str], mapping: GroupMapping) -> None:
    """Set the user's groups and flags from their values; the caller saves the user."""
    if mapping.mirror_all:
        names = {value for value in values if 0 < len(value) <= _NAME_LENGTH}
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in sorted(names)])
    elif mapping.names:
        managed = {name for _value, name in mapping.names}
        wanted = {name for value, name in mapping.names if value in values}
        kept = set(user.groups.exclude(name__in=managed).values_list("name", flat=True))
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in sorted(kept | wanted)])
    if mapping.staff is not None:
        user.is_staff = bool(values & mapping.staff)
    if mapping.superuser is not None:
        user.is_superuser = bool(values & mapping.superuser)
