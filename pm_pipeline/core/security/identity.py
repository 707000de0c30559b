"""Who approved: names normalised so one person counts once, and SSH signatures that bind an approval to a key.

A typed name proves nothing: ``alice`` and `` Alice`` (or a full-width ``Ａｌｉｃｅ``) are one
person. With an ssh-keygen ``allowed_signers`` file, an approval counts only with an SSH signature
(``ssh-keygen -Y sign``) over the plan's checksum and the audit chain it is recorded in, made by a
key listed there; the approver is then the key's principal, whatever name was typed, so N
approvals mean N key holders.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from pm_pipeline.core.errors import BadInputError, SystemFailure

NAMESPACE = "pm-pipeline-approval"
_TIMEOUT_SECONDS = 30


def normalise_identity(name: str) -> str:
    """One spelling per person: NFKC, invisible format characters dropped, case folded, white space collapsed."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.casefold().split())


def approval_message(*, plan_checksum: str, chain: str) -> bytes:
    """What an approver signs: the plan and the chain (its first record's hash) the approval goes to,
    so a signature cannot be replayed for another plan or into another tenant's log."""
    return f"pm-pipeline rollback approval\nplan {plan_checksum}\nchain {chain}\n".encode()


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise SystemFailure("ssh-keygen is not installed: signed approvals need OpenSSH's ssh-keygen")
    return found


def _run(arguments: list[str], *, data: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            [_ssh_keygen(), *arguments],
            input=data,
            capture_output=True,
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SystemFailure(f"ssh-keygen {arguments[0]} {arguments[1]} did not answer within 30 s") from None


def sign(message: bytes, *, key_file: Path) -> str:
    """An armored SSH signature of ``message`` by the private key in ``key_file``."""
    if not key_file.is_file():
        raise BadInputError(f"--sign-with {key_file}: no such key file")
    result = _run(["-Y", "sign", "-f", str(key_file), "-n", NAMESPACE], data=message)
    if result.returncode != 0 or b"BEGIN SSH SIGNATURE" not in result.stdout:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise BadInputError(f"--sign-with {key_file}: ssh-keygen could not sign ({' '.join(detail[-1:])})")
    return result.stdout.decode()


def signer(message: bytes, *, signature: str, allowed_signers: Path) -> str | None:
    """The principal of ``allowed_signers`` whose key made ``signature`` over ``message``, or None."""
    if not allowed_signers.is_file():
        raise BadInputError(f"allowed_signers file {allowed_signers} does not exist")
    with tempfile.TemporaryDirectory(prefix="pm-approval-") as scratch:
        signature_file = Path(scratch) / "approval.sig"
        signature_file.write_text(signature, encoding="utf-8")
        found = _run(
            ["-Y", "find-principals", "-s", str(signature_file), "-f", str(allowed_signers)], data=b""
        )
        if found.returncode != 0:
            return None
        for principal in found.stdout.decode().replace(",", " ").split():
            checked = _run(
                ["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", NAMESPACE,
                 "-s", str(signature_file)],
                data=message,
            )  # fmt: skip
            if checked.returncode == 0:
                return principal
    return None
