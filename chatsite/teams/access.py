"""Which models a user may use, and which team (and provider key) pays for what they use.

The rules are read once per change, not per turn: every change to a team, its models, keys,
budgets or members puts a new version token in the cache (shared by every process when the
cache is Redis), and each process re-reads the rules when the token differs from the one it
read them under (a few queries), so a turn only costs a cache read. (A token, not a counter: a
cache that was cleared or restarted must not give a version some process already saw.) With the
in-memory cache of a single process, another process's change (a management command) is not
seen through the token, so the rules are also re-read every RULES_SECONDS.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from chatsite.providers.models import LanguageModel, Provider
from chatsite.teams.models import Budget, Team, TeamProviderKey

VERSION_KEY = "chatsite:team-rules-version"
RULES_SECONDS = 30.0


@dataclass(frozen=True)
class Rules:
    version: str
    restricted: frozenset[int] = frozenset()  # models some team lists, itself or by its provider
    allowed: dict[int, frozenset[int]] = field(default_factory=dict)  # team -> the models it may use
    teams_of: dict[int, tuple[int, ...]] = field(default_factory=dict)  # user -> their teams, by name
    names: dict[int, str] = field(default_factory=dict)  # team -> its name
    keys: dict[tuple[int, int], str] = field(default_factory=dict)  # (team, provider) -> its key
    any_budget: bool = False
    read_at: float = 0.0  # time.monotonic() when they were read

    def may_use(self, user, model: LanguageModel) -> bool:
        if model.pk not in self.restricted or user.is_superuser:
            return True
        return any(model.pk in self.allowed.get(team, ()) for team in self.teams_of.get(user.pk, ()))

    def billing(self, user_id: int, provider_id: int) -> tuple[int | None, str | None]:
        """(the team billed, the team's key for the provider or None for the provider's own): the
        first of the user's teams, by name, with a key for this provider; else their first team."""
        teams = self.teams_of.get(user_id, ())
        for team in teams:
            key = self.keys.get((team, provider_id))
            if key:
                return team, key
        return (teams[0] if teams else None), None


_lock = threading.Lock()
_current = Rules(version="")


def rules() -> Rules:
    """The rules now (re-read when another process or request changed them)."""
    global _current
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(VERSION_KEY)
    if _current.version != version or time.monotonic() - _current.read_at > RULES_SECONDS:
        with _lock:
            if _current.version != version or time.monotonic() - _current.read_at > RULES_SECONDS:
                _current = _read(version)
    return _current


def _read(version: str) -> Rules:
    allowed: defaultdict[int, set[int]] = defaultdict(set)
    for team, model in Team.allowed_models.through.objects.values_list("team_id", "languagemodel_id"):
        allowed[team].add(model)
    provider_rules = list(Team.allowed_providers.through.objects.values_list("team_id", "provider_id"))
    if provider_rules:
        models_of: defaultdict[int, set[int]] = defaultdict(set)
        providers = {provider for _, provider in provider_rules}
        for model, provider in LanguageModel.objects.filter(provider__in=providers).values_list("pk", "provider_id"):
            models_of[provider].add(model)
        for team, provider in provider_rules:
            allowed[team] |= models_of[provider]
    names = dict(Team.objects.values_list("pk", "group__name"))
    memberships: defaultdict[int, list[int]] = defaultdict(list)
    membership = get_user_model().groups.through.objects.filter(group_id__in=list(names))
    for user, team in membership.values_list("user_id", "group_id"):
        memberships[user].append(team)
    teams_of = {user: tuple(sorted(teams, key=lambda team: names[team])) for user, teams in memberships.items()}
    keys = {
        (team, provider): key
        for team, provider, key in TeamProviderKey.objects.values_list("team", "provider", "api_key")
    }
    return Rules(
        version=version,
        restricted=frozenset(model for models in allowed.values() for model in models),
        allowed={team: frozenset(models) for team, models in allowed.items()},
        teams_of=teams_of,
        names=names,
        keys=keys,
        any_budget=Budget.objects.exists(),
        read_at=time.monotonic(),
    )


def changed() -> None:
    """Every process re-reads the rules before its next turn."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)


@receiver(post_save, sender=Team)
@receiver(post_delete, sender=Team)
@receiver(post_save, sender=Group)  # its name
@receiver(post_delete, sender=Group)
@receiver(post_save, sender=TeamProviderKey)
@receiver(post_delete, sender=TeamProviderKey)
@receiver(post_save, sender=Budget)
@receiver(post_delete, sender=Budget)
@receiver(post_save, sender=LanguageModel)  # a provider's new model falls under its provider's rules
@receiver(post_delete, sender=LanguageModel)
@receiver(post_delete, sender=Provider)
def _rules_changed(**kwargs) -> None:
    changed()


@receiver(m2m_changed, sender=Team.allowed_models.through)
@receiver(m2m_changed, sender=Team.allowed_providers.through)
def _access_changed(action: str, **kwargs) -> None:
    if action.startswith("post_"):
        changed()


@receiver(m2m_changed, sender=get_user_model().groups.through)
def _membership_changed(action: str, **kwargs) -> None:
    if action.startswith("post_"):
        changed()


def administered(user) -> list[int]:
    """The teams this user is an admin of (superusers: every team). For the admin's team views."""
    if user.is_superuser:
        return list(Team.objects.values_list("pk", flat=True))
    return list(user.administered_teams.values_list("pk", flat=True))
