"""Features: Django's Oracle features, and the Django tests that cannot apply.

Django's own list already skips its pooled-connection tests while ``is_pool``
(ours: whenever the pool is on); the mixin adds the release="transaction" ones.
Untested against a server here: no Oracle on this project's machines.
"""

from __future__ import annotations

from django.db.backends.oracle import features

from ..mixins import PooledDatabaseFeaturesMixin


class DatabaseFeatures(PooledDatabaseFeaturesMixin, features.DatabaseFeatures):
    pass
