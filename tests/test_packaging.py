"""The project installs as a package: a wheel with the dashboard's templates and assets, and a `pql` command."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from crm_app.services.admin.defaults import default_files, write_defaults
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                           capture_output=True, text=True, cwd=out, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = out.glob("*.whl")
    return path


def test_the_wheel_holds_the_package_its_templates_and_assets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.endswith(".dist-info/RECORD")} <= {
        "crm_app", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert any(n.startswith("crm_app/web/dashboard/templates/dashboard/") for n in names)
    assert any(n.startswith("crm_app/web/dashboard/static/") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    assert any(".dist-info/" in n and n.endswith("LICENSE") for n in names), "the Apache-2.0 LICENSE ships"
    shipped = {n.removeprefix("crm_app/defaults/") for n in names if n.startswith("crm_app/defaults/")}
    assert shipped == {str(p) for p in default_files()}, "the wheel carries every default admin file, for `pql init`"


def test_the_installed_pql_command_runs_outside_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(target))
    ran = subprocess.run([str(target / "bin" / "pql"), "--help"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "monitor" in ran.stdout and "demo" in ran.stdout
    init = subprocess.run([str(target / "bin" / "pql"), "init", "admin"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert init.returncode == 0, init.stderr
    check = subprocess.run([str(target / "bin" / "pql"), "check", "--offline"], capture_output=True, text=True,
                           env=env, cwd=tmp_path / "admin", timeout=120)
    assert check.returncode == 0 and check.stdout.startswith("OK: "), check.stdout + check.stderr
    where = subprocess.run([sys.executable, "-c", "import crm_app; print(crm_app.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=60)
    assert where.stdout.startswith(str(target))


def test_a_bad_setting_is_a_clear_error_not_a_traceback(tmp_path):
    env = dict(os.environ, MAX_MESSAGE_BYTES="abc", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    ran = subprocess.run([sys.executable, "-m", "crm_app", "status"], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=120)
    assert ran.returncode == 2
    assert "MAX_MESSAGE_BYTES='abc': expected a whole number" in ran.stderr and "Traceback" not in ran.stderr


def test_output_piped_into_head_ends_quietly(tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/var/pql.db", SPECS_ROOT=str(ROOT),
               CRM_SANDBOX_PATH=str(tmp_path / "var" / "crm.db"), PYTHONPATH=str(ROOT))
    ran = subprocess.run(["bash", "-c", f"{sys.executable} -m crm_app demo --people 60 | head -n 1; "
                                        "echo \"status ${PIPESTATUS[0]}\""],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert "Traceback" not in ran.stderr and "BrokenPipe" not in ran.stderr, ran.stderr
    assert "status 141" in ran.stdout  # stopped by the closed pipe, as a shell pipeline expects


@pytest.mark.parametrize("existing, force, kept, replaced", [
    (None, False, False, True),  # empty folder: everything is written
    ("shipped", False, False, False),  # already the shipped contents: nothing to do
    ("edited", False, True, False),  # an admin's edit is never overwritten silently
    ("edited", True, False, True),  # unless asked to
])
def test_init_writes_the_default_admin_files_and_keeps_edits(tmp_path, existing, force, kept, replaced):
    relative = next(p for p in default_files() if p.parts[0] == "rules")
    shipped = (ROOT / relative).read_bytes()
    if existing:
        (tmp_path / relative).parent.mkdir(parents=True)
        (tmp_path / relative).write_bytes(shipped if existing == "shipped" else b"# my edit\n")
    outcome = write_defaults(tmp_path, force=force)
    assert (relative in outcome.kept) is kept
    assert (relative in outcome.written) is replaced
    assert (tmp_path / relative).read_bytes() == (b"# my edit\n" if kept else shipped)
    assert all((tmp_path / p).is_file() for p in default_files())
    from crm_app.cli import main
    assert main(["init", str(tmp_path)] + (["--force"] if force else [])) == (1 if kept else 0)
