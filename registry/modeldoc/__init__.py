"""ModelDoc: a model version's documentation, built from the repository and rendered for people.

``build_modeldoc`` gathers the facts into one typed object; ``render_modeldoc`` turns it into
self-contained HTML (plots embedded), Markdown or JSON.
"""

from registry.modeldoc.build import ModelDoc, build_modeldoc
from registry.modeldoc.render import render_modeldoc, write_modeldoc

__all__ = ["ModelDoc", "build_modeldoc", "render_modeldoc", "write_modeldoc"]
