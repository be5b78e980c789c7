"""Build hook: the wheel carries the default admin files (for `pql init`) under crm_app/defaults/.

The folders stay at the checkout's root, where admins edit them; everything else is in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ADMIN_FOLDERS = ("rules", "field_specs", "playbooks", "lifecycle", "mapping")


class BuildWithDefaults(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "crm_app" / "defaults"
        for folder in ADMIN_FOLDERS:
            if (root / folder).is_dir():
                shutil.copytree(root / folder, target / folder, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithDefaults})
