"""``hybrid-studio import SOURCE -o PROJECT.hsproj.json [--json]`` (contract 5.3).

Exit 0: every layer converted; 1: some became placeholders (the project is still written); 2: SOURCE cannot be read
or the project cannot be written. Only the standard library is imported at module level (building the parser
imports this module, and ``check`` never imports torch).
"""

from __future__ import annotations

import json
import sys

EXIT_OK, EXIT_PARTIAL, EXIT_BAD_INPUT = 0, 1, 2


def add_parsers(sub) -> None:
    p = sub.add_parser("import", help="turn a Keras or ONNX model into a project (with its weights)",
                       description="Import a Keras model (.keras, .h5, or the JSON of model.to_json()) or an ONNX "
                                   "model (.onnx) as a project. The file is read as data: no code in it runs. "
                                   "Weights go beside the project as PROJECT.weights.pt. Exit 0: every layer "
                                   "converted; 1: some became placeholder blocks (listed); 2: unreadable file.")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("-o", "--output", required=True, metavar="PROJECT.hsproj.json", help="the project to write")
    p.add_argument("--json", action="store_true", help="print one JSON object (project, weights, converted, "
                                                        "unsupported) instead of the report")
    p.set_defaults(run=run_import)


def run_import(args) -> int:
    from . import ImportFailure, import_model
    from .project_io import write_import

    try:
        result = import_model(args.source)
    except ImportFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        project, weights = write_import(result, args.output)
    except (OSError, ValueError) as e:
        print(f"error: cannot write {args.output}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(result.report_json(project, weights), indent=2))
    else:
        print(result.report_text())
        print(f"wrote {project}" + (f" and {weights}" if weights else ""))
    return EXIT_OK if not result.unsupported else EXIT_PARTIAL
