"""Sphinx configuration: the docs are Markdown (MyST), built with warnings as errors.

Build: ``nox -s docs`` (HTML in ``docs/_build/html``).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

project = "django-multipool"
author = "django-multipool contributors"
copyright = "django-multipool contributors"

extensions = ["myst_parser", "multipool_docs"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_ext"]
root_doc = "index"

myst_heading_anchors = 3

html_theme = "furo"
html_title = "django-multipool"
