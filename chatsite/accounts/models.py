"""The user model: Django's own, swappable from the first migration."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    # The user's own choices (their profile page): the interface's language ("" follows the
    # browser) and the time zone dates are shown in ("" is the server's TIME_ZONE).
    language = models.CharField(max_length=16, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)


class FirstRun(models.Model):
    """One row, written when the first admin is created: its fixed primary key makes the
    database refuse a second first-run admin, however many forms are submitted at once."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    done = models.DateTimeField(auto_now_add=True)
