"""The files an operator copies are well-formed: the nginx site passes `nginx -t`, the systemd
units pass systemd's own check and name what they run, the Dockerfile passes hadolint. (No
Docker engine runs here: the image is linted, not built; nor does systemd run as the first
process: the units are verified, not started. The nginx site and the app unit's command also
run for real in test_deploy.py.)"""

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import ROOT

DEPLOY = ROOT / "deploy"


def test_the_nginx_site_passes_nginx_t(tmp_path):
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: ./dev test installs Debian's nginx")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/etc/ssl/certs/chat.example.com.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/ssl/private/chat.example.com.key", str(tmp_path / "key.pem"))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ include /etc/nginx/mime.types; include {tmp_path}/site.conf; }}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    # What the chat needs of it, said in the file an operator copies.
    websocket = re.search(r"location /ws/ \{(.*?)\}", site, re.S).group(1)
    for line in ("proxy_set_header Upgrade $http_upgrade;", "proxy_buffering off;", "proxy_read_timeout 1h;"):
        assert line in websocket
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in site


@pytest.mark.parametrize("name", ["chatsite@.service", "chatsite-maintenance.service", "chatsite-maintenance.timer"])
def test_the_systemd_units_are_well_formed_and_run_what_exists(name):
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string((DEPLOY / name).read_text())
    assert "Unit" in unit and unit["Unit"].get("Description")
    if name.endswith(".service"):
        service = unit["Service"]
        assert service["User"] == "chatsite" and service["EnvironmentFile"] == "/etc/chatsite/chatsite.env"
        for command in re.findall(r"^ExecStart=(\S+) (\S+)", (DEPLOY / name).read_text(), re.M):
            program, first = command
            assert program.startswith("/opt/chatsite/.venv/bin/")
            if first == "manage.py":  # every management command it runs exists
                names = re.findall(r"manage\.py (\w+)", (DEPLOY / name).read_text())
                from django.core.management import get_commands

                assert set(names) <= set(get_commands()), set(names) - set(get_commands())
    else:
        assert unit["Timer"]["OnCalendar"]


@pytest.mark.parametrize("name", ["chatsite@1.service", "chatsite-maintenance.service", "chatsite-maintenance.timer"])
def test_systemd_itself_finds_nothing_wrong_with_the_units(name, tmp_path):
    """systemd-analyze verify parses the units as systemd does (no systemd need run) and checks
    that what they run is there: with this checkout put where deploy/README says to install it."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is not installed: ./dev test installs Debian's systemd")
    for unit_file in ("chatsite@.service", "chatsite-maintenance.service", "chatsite-maintenance.timer"):
        text = (DEPLOY / unit_file).read_text()
        text = text.replace("/opt/chatsite/.venv", str(Path(sys.prefix))).replace("/opt/chatsite", str(ROOT))
        (tmp_path / unit_file.replace("@.", "@1.")).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / name)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.prefix) / "bin" / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -e ." in dockerfile  # the same pinned install as ./dev
    assert re.search(r"^USER \d+", dockerfile, re.M)  # not root
