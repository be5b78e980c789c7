"""The default admin files (rules, field specs, playbooks, lifecycle models, CRM mappings) and writing them out.

An installed wheel carries them under `crm_app/defaults/` (setup.py copies the checkout's folders there at
build time); a checkout or an editable install reads the folders at the checkout's root.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

ADMIN_FOLDERS = ("rules", "field_specs", "playbooks", "lifecycle", "mapping")
PACKAGE = Path(__file__).resolve().parents[2]


def defaults_root() -> Path:
    """The folder holding the shipped admin folders: the wheel's copy, else the checkout the package runs from."""
    packaged = PACKAGE / "defaults"
    if (packaged / "rules").is_dir():
        return packaged
    checkout = PACKAGE.parent
    if (checkout / "rules").is_dir():
        return checkout
    raise FileNotFoundError(f"no default admin files: neither {packaged} nor {checkout / 'rules'} exists")


def default_files() -> list[Path]:
    """Every shipped admin file, relative to the defaults root, in a stable order."""
    root = defaults_root()
    return sorted(p.relative_to(root) for folder in ADMIN_FOLDERS if (root / folder).is_dir()
                  for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@dataclass(frozen=True)
class InitOutcome:
    written: list[Path]
    kept: list[Path]  # already present and different; left alone without force
    same: list[Path]  # already present with the shipped contents


def write_defaults(target: Path, force: bool = False) -> InitOutcome:
    """Copy the shipped admin files under `target`. An existing file that differs is kept unless `force`."""
    root = defaults_root()
    written, kept, same = [], [], []
    for relative in default_files():
        source, destination = root / relative, Path(target) / relative
        if destination.exists():
            if destination.read_bytes() == source.read_bytes():
                same.append(relative)
                continue
            if not force:
                kept.append(relative)
                continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        written.append(relative)
    return InitOutcome(written, kept, same)
