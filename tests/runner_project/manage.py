#!/usr/bin/env python
"""Entry point of the project tests/test_django_runner.py drives."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "runner_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
