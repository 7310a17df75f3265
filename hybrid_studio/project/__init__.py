"""Project files: reading (with validation and migrations), canonical writing, atomic saves, templates.

No torch and no Qt here: the command-line ``check`` and the app's start-up both read projects.
"""

from .atomic import atomic_write_bytes, atomic_write_text
from .errors import ProjectError
from .reader import CURRENT_VERSION, FORMAT, MIGRATIONS, load_project, loads_project, migrate
from .templates import DEFAULT_TEMPLATE, Template, list_templates, load_template, templates_dir
from .writer import dumps_project, edge_dict, graph_to_dict, node_dict, save_project

__all__ = [
    "CURRENT_VERSION", "DEFAULT_TEMPLATE", "FORMAT", "MIGRATIONS", "ProjectError", "Template", "atomic_write_bytes",
    "atomic_write_text", "dumps_project", "edge_dict", "graph_to_dict", "node_dict", "list_templates", "load_project", "load_template",
    "loads_project", "migrate", "save_project", "templates_dir",
]
