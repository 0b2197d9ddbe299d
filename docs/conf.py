"""Sphinx configuration: the README as the first page, then the API reference from docstrings.

Built in CI with warnings as errors: ``sphinx-build -W --keep-going -b html docs OUT``
(``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # document this checkout, installed or not

import reactor_sync  # noqa: E402

project = "reactor_sync"
author = "reactor_sync authors"
copyright = "reactor_sync authors"  # noqa: A001 - Sphinx's name
release = version = reactor_sync.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
root_doc = "index"
exclude_patterns = ["_build"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Types from aiortc, numpy and the standard library are not documented here.
nitpicky = False

html_theme = "alabaster"
html_title = f"reactor_sync {release}"
