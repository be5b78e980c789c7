"""The project installs as a package: a wheel with the dashboard's templates and assets, and a `pql` command."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

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
