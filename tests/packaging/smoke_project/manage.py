#!/usr/bin/env python
"""The smallest Django project on one of our ENGINEs: tests/packaging/check_dist.py runs it."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smoke_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
