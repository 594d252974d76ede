"""Settings of the runner project: the databases come as JSON from the test driving it."""

import json
import os

SECRET_KEY = "runner-project-only"
USE_TZ = True
INSTALLED_APPS = ["django_multipool", "shop"]
DATABASES = json.loads(os.environ["MULTIPOOL_RUNNER_DATABASES"])
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
TEST_RUNNER = "shop.runner.PoolOpenedFirstRunner"
