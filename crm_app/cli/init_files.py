"""`init [FOLDER]`: write the default admin files into a folder, to edit and run from there."""
from __future__ import annotations

import sys
from pathlib import Path

from crm_app.config import Config


def cmd_init(args, config: Config) -> int:
    """Write the default rules/, field_specs/, playbooks/, lifecycle/ and mapping/ files into FOLDER (default:
    the current folder); a file you changed is kept unless --force."""
    from crm_app.services.admin.defaults import write_defaults
    target = Path(args.folder)
    outcome = write_defaults(target, force=args.force)
    print(f"Wrote {len(outcome.written)} admin file(s) into {target.resolve()}"
          + (f"; {len(outcome.same)} already matched" if outcome.same else ""))
    for relative in outcome.kept:
        print(f"  kept {relative}: it differs from the shipped file (--force replaces it)", file=sys.stderr)
    from crm_app.services.ops.demo import launcher
    where = "" if target.resolve() == Path.cwd().resolve() else f"cd {args.folder} && "
    print(f"Next: {where}{launcher()} check   (the commands read the admin files of the folder they run in, "
          "or of SPECS_ROOT)")
    return 1 if outcome.kept else 0


def register(sub) -> None:
    p = sub.add_parser("init", help=cmd_init.__doc__)
    p.add_argument("folder", nargs="?", default=".", help="where to write the files (default: the current folder)")
    p.add_argument("--force", action="store_true", help="replace files that differ from the shipped ones")
    p.set_defaults(func=cmd_init)
