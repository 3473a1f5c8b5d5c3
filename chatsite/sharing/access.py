"""Who may read a shared conversation: the one decision, used by every view of a share.

"The team" is every team the sharer is in (chatsite/teams: a Django group with a Team), as it is
when the link is opened, not when it was made: a member who leaves stops seeing it. A sharer in
no team shares with every user of the site (a site without teams is one team). The sharer always
may. Superusers are not exempt: they read conversations through the admin, where it is recorded.
"""

from chatsite.sharing.models import Share
from chatsite.teams import access


def may_read(user, share: Share) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.pk == share.owner_id:
        return True
    teams_of = access.rules().teams_of
    sharer_teams = teams_of.get(share.owner_id, ())
    if not sharer_teams:
        return True
    return bool(set(sharer_teams) & set(teams_of.get(user.pk, ())))


def audience(user) -> list[str]:
    """The names of the teams a share by this user reaches ([]: everyone on the site)."""
    rules = access.rules()
    return [rules.names[team] for team in rules.teams_of.get(user.pk, ()) if team in rules.names]
