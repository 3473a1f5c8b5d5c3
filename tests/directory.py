"""Debian's slapd on loopback, with a small directory, for the LDAP sign-in tests.

Its own temporary folder, database and ports; plain LDAP (StartTLS offered) and LDAPS with a
certificate from a test CA made here. The directory:

    ou=people    alice (engineering), bob (研究组, chat-admins), charlie (locked), reader (the
                 service account the site searches with)
    ou=groups    engineering: alice, charlie · 研究组: bob · all-staff: engineering, 研究组 (nested) ·
                 company: all-staff (nested twice) · chat-admins: bob

A disabled account is a locked one: the ppolicy overlay with pwdAccountLockedTime
"000001010000Z" (locked until an admin unlocks it), which is how OpenLDAP itself disables an
account. slapd then refuses the account's every bind, whatever application asks, as Active
Directory does for its disabled accounts (userAccountControl's ACCOUNTDISABLE bit); a filter on
an attribute or a group would stop only the applications configured with it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.server import free_port

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
BASE = "dc=example,dc=com"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
ROOT_DN, ROOT_PASSWORD = f"cn=admin,{BASE}", "root-secret"
READER_DN, READER_PASSWORD = f"uid=reader,{PEOPLE}", "reader-secret"
PASSWORDS = {"alice": "alice-directory-pw", "bob": "bob-directory-pw", "charlie": "charlie-directory-pw"}
RESEARCH = "研究组"


def dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


def _ldif(entries: list[list[tuple[str, str]]]) -> str:
    lines = []
    for entry in entries:
        for name, value in entry:
            if value.isascii():
                lines.append(f"{name}: {value}")
            else:  # LDIF carries anything else in base64
                lines.append(f"{name}:: {base64.b64encode(value.encode()).decode()}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _person(uid: str, given: str, surname: str, password: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        ("dn", dn(uid)),
        ("objectClass", "inetOrgPerson"),
        ("uid", uid),
        ("cn", f"{given} {surname}"),
        ("givenName", given),
        ("sn", surname),
        ("mail", f"{uid}@example.com"),
        ("userPassword", password),
        *extra,
    ]


def _group(cn: str, *members: str) -> list[tuple[str, str]]:
    return [("dn", group_dn(cn)), ("objectClass", "groupOfNames"), ("cn", cn), *(("member", m) for m in members)]


def directory_ldif() -> str:
    return _ldif(
        [
            [
                ("dn", BASE),
                ("objectClass", "dcObject"),
                ("objectClass", "organization"),
                ("dc", "example"),
                ("o", "Ex"),
            ],
            [("dn", PEOPLE), ("objectClass", "organizationalUnit"), ("ou", "people")],
            [("dn", GROUPS), ("objectClass", "organizationalUnit"), ("ou", "groups")],
            [("dn", f"ou=policies,{BASE}"), ("objectClass", "organizationalUnit"), ("ou", "policies")],
            [
                ("dn", f"cn=default,ou=policies,{BASE}"),
                ("objectClass", "organizationalRole"),
                ("objectClass", "pwdPolicy"),
                ("cn", "default"),
                ("pwdAttribute", "userPassword"),
                ("pwdLockout", "TRUE"),
            ],
            _person("alice", "Alice", "Liddell", PASSWORDS["alice"]),
            _person("bob", "Bob", "王", PASSWORDS["bob"]),
            _person("charlie", "Charlie", "Locked", PASSWORDS["charlie"], ("pwdAccountLockedTime", "000001010000Z")),
            _person("reader", "Service", "Reader", READER_PASSWORD),
            _group("engineering", dn("alice"), dn("charlie")),
            _group(RESEARCH, dn("bob")),
            _group("all-staff", group_dn("engineering"), group_dn(RESEARCH)),
            _group("company", group_dn("all-staff")),
            _group("chat-admins", dn("bob")),
        ]
    )


def _certificates(folder: Path) -> None:
    """A test CA and a certificate for 127.0.0.1 signed by it (ca.pem, server.pem, server.key)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chatsite test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


class Directory:
    """slapd in a subprocess; a context manager. `uri` (ldap://, StartTLS offered), `ldaps_uri`,
    `ca_file`; `env()` gives the site's LDAP_* settings for it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="chatsite-slapd-"))
        self.port, self.ldaps_port = free_port(), free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_uri = f"ldaps://127.0.0.1:{self.ldaps_port}"
        self.ca_file = self.folder / "ca.pem"
        self.process: subprocess.Popen | None = None

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            "LDAP_SERVER_URI": self.uri,
            "LDAP_BIND_DN": READER_DN,
            "LDAP_BIND_PASSWORD": READER_PASSWORD,
            "LDAP_USER_BASE": PEOPLE,
            "LDAP_GROUP_BASE": GROUPS,
            "LDAP_GROUP_FILTER": "(objectClass=groupOfNames)",
            "LDAP_GROUPS": "*",
            "LDAP_STAFF_GROUPS": group_dn("company"),
            "LDAP_SUPERUSER_GROUPS": group_dn("chat-admins"),
            "SSO_TIMEOUT": "3",
            **overrides,
        }

    def _config(self) -> str:
        folder = self.folder
        return f"""
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key

database mdb
suffix "{BASE}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {folder}/db
maxsize 104857600
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{BASE}"
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by anonymous auth
"""

    def start(self) -> Directory:
        if not Path(SLAPD).exists():
            raise RuntimeError("slapd is missing: ./dev test installs Debian's slapd")
        _certificates(self.folder)
        (self.folder / "db").mkdir()
        (self.folder / "slapd.conf").write_text(self._config())
        (self.folder / "directory.ldif").write_text(directory_ldif(), encoding="utf-8")
        conf = str(self.folder / "slapd.conf")
        loaded = subprocess.run(
            [SLAPADD, "-f", conf, "-l", str(self.folder / "directory.ldif")], capture_output=True, text=True
        )
        if loaded.returncode != 0:
            raise RuntimeError(f"slapadd failed:\n{loaded.stderr}")
        log = open(self.folder / "slapd.log", "wb")
        # -d 0: stay in the foreground (a child of the tests, stopped with them), no debug output.
        self.process = subprocess.Popen(
            [SLAPD, "-f", conf, "-h", f"{self.uri}/ {self.ldaps_uri}/", "-d", "0"], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not start:\n{(self.folder / 'slapd.log').read_text()}")
            time.sleep(0.05)

    def modify(self, entry_dn: str, changes: list[tuple[int, str, list[bytes] | None]]) -> None:
        """Change an entry as the directory's admin would (python-ldap, bound as the root DN)."""
        import ldap

        connection = ldap.initialize(self.uri)
        try:
            connection.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
            connection.modify_s(entry_dn, changes)
        finally:
            connection.unbind_s()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Directory:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()
