"""Team admins are staff: made a team's admin, a user can open the admin (where what they see
follows from the teams they administer, not from Django's model permissions).

Removed from a team's admins, a user stays staff: they may be staff for other reasons, and a
staff user without teams or permissions sees an empty admin.
"""

from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from chatsite.accounts.models import User
from chatsite.teams.models import Team


@receiver(m2m_changed, sender=Team.admins.through)
def make_team_admins_staff(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if action != "post_add":
        return
    # team.admins.add(users...) or, the other way round, user.administered_teams.add(teams...)
    users = [instance.pk] if reverse else list(pk_set or ())
    User.objects.filter(pk__in=users, is_staff=False).update(is_staff=True)
