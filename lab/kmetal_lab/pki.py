"""A throwaway certificate authority for the lab: the CA, serving certificates and client certificates."""

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(common_name: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


class CA:
    """The lab CA in DIR/ca.crt and DIR/ca.key, created on first use."""

    def __init__(self, directory: Path):
        self.dir = directory
        crt, key = directory / "ca.crt", directory / "ca.key"
        if crt.exists() and key.exists():
            self.cert = x509.load_pem_x509_certificate(crt.read_bytes())
            self.key = serialization.load_pem_private_key(key.read_bytes(), None)
            return
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("kmetal-lab-ca"))
            .issuer_name(_name("kmetal-lab-ca"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + 10 * VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        _write(key, _key_pem(self.key), private=True)
        _write(crt, self.cert.public_bytes(serialization.Encoding.PEM))

    @property
    def cert_path(self) -> Path:
        return self.dir / "ca.crt"

    def issue(self, name: str, common_name: str, org: str | None = None, server_names=(), client=False) -> tuple[Path, Path]:
        """Issue DIR/NAME.crt and DIR/NAME.key unless they exist; server_names are DNS names or IP addresses."""
        crt, key_path = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        if crt.exists() and key_path.exists():
            return crt, key_path
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, org))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            # Strict verifiers (Python 3.13's default) require the key identifiers.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if server_names:
            sans = []
            for entry in server_names:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(entry)))
                except ValueError:
                    sans.append(x509.DNSName(entry))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        _write(key_path, _key_pem(key), private=True)
        _write(crt, cert.public_bytes(serialization.Encoding.PEM))
        return crt, key_path


def service_account_keys(directory: Path) -> tuple[Path, Path]:
    """The key pair the API server signs and verifies service-account tokens with."""
    private, public = directory / "sa.key", directory / "sa.pub"
    if not (private.exists() and public.exists()):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write(private, _key_pem(key), private=True)
        _write(public, key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public
