"""The credential vault in both state stores: encrypted at rest, key rotation, OAuth states."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from amazon_assets.settings import ConfigError, secret_keys
from amazon_assets.sources import vault as vault_module
from amazon_assets.sources.vault import (
    REVOKED,
    SP_API,
    CredentialVault,
    StateRefused,
    VaultEntry,
    VaultError,
)

TOKEN = "Atzr|IwEBvault-test-refresh-token-0123456789"


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    return request.getfixturevalue("postgres_database")


def raw_contents(location: str) -> bytes:
    """Everything the database holds, as bytes (the file, or a dump of the vault table)."""
    if location.startswith("postgresql://"):
        with psycopg.connect(location) as connection:
            rows = connection.execute(
                "SELECT * FROM amazon_assets_state.vault_credentials"
            ).fetchall()
        return repr(rows).encode()
    return b"".join(p.read_bytes() for p in Path(location).parent.glob("state.sqlite*"))


def test_token_is_encrypted_at_rest_and_rotates(location: str) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    CredentialVault.at(location, (old,)).store_token("acme", SP_API, TOKEN, "A1B2C3")
    assert TOKEN.encode() not in raw_contents(location)
    assert b"IwEBvault" not in raw_contents(location)

    both = CredentialVault.at(location, (new, old))
    assert both.refresh_token("acme", SP_API)[0] == TOKEN  # the old key still decrypts
    assert both.rotate() == 1
    token, entry = CredentialVault.at(location, (new,)).refresh_token("acme", SP_API)
    assert token == TOKEN and entry.partner_id == "A1B2C3" and entry.status == "active"
    with pytest.raises(VaultError, match="does not decrypt with any key"):
        CredentialVault.at(location, (old,)).refresh_token("acme", SP_API)


def test_state_is_single_use_and_never_forged(location: str) -> None:
    vault = CredentialVault.at(location, ())
    state = vault.new_state("acme", SP_API)
    assert vault.take_state(state, SP_API) == "acme"
    with pytest.raises(StateRefused, match="already completed"):
        vault.take_state(state, SP_API)
    with pytest.raises(StateRefused, match="not issued by this server"):
        vault.take_state(state + "x", SP_API)
    other = vault.new_state("acme", SP_API)
    with pytest.raises(StateRefused, match="not issued by this server"):
        vault.take_state(other, "ADS_API")  # a state is for one API's callback only


def test_state_expires(location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = CredentialVault.at(location, ())
    state = vault.new_state("acme", SP_API)
    monkeypatch.setattr(vault_module, "STATE_SECONDS", 0.05)
    time.sleep(0.1)
    with pytest.raises(StateRefused, match="expired"):
        vault.take_state(state, SP_API)


def test_revoked_and_reauthorization_warnings(tmp_path: Path) -> None:
    vault = CredentialVault.at(str(tmp_path / "state.sqlite"), (Fernet.generate_key().decode(),))
    entry = vault.store_token("acme", SP_API, TOKEN)
    assert entry.warning() is None
    due = entry.reauthorize_by
    assert "authorize the SP_API app again by" in entry.warning(due - timedelta(days=10))
    vault.mark_revoked("acme", SP_API, "Login with Amazon refused the stored authorization.")
    (revoked,) = vault.entries("acme")
    assert revoked.status == REVOKED
    assert revoked.warning() == "Login with Amazon refused the stored authorization."


def test_without_a_key_nothing_is_stored(tmp_path: Path) -> None:
    vault = CredentialVault.at(str(tmp_path / "state.sqlite"), ())
    with pytest.raises(VaultError, match="AMAZON_ASSETS_SECRET_KEY is not set"):
        vault.store_token("acme", SP_API, TOKEN)
    assert vault.entries() == []


def test_secret_key_must_be_fernet_keys() -> None:
    key = Fernet.generate_key().decode()
    assert secret_keys({"AMAZON_ASSETS_SECRET_KEY": f"{key}, {key}"}) == (key, key)
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key"):
        secret_keys({"AMAZON_ASSETS_SECRET_KEY": f"{key},not-a-key"})


def test_entry_due_a_year_after_authorization() -> None:
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    entry = VaultEntry("acme", SP_API, None, moment.timestamp(), "active", None)
    assert entry.reauthorize_by == moment + timedelta(days=365)


def test_vault_commands_rotate_to_a_new_key(amazon_home: Path, monkeypatch, capsys) -> None:
    from amazon_assets.cli import main

    assert main(["vault", "new-key"]) == 0
    old = capsys.readouterr().out.strip()
    Fernet(old)  # a usable key
    state = str(amazon_home / "state.sqlite")
    CredentialVault.at(state, (old,)).store_token("acme", SP_API, TOKEN)
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("AMAZON_ASSETS_SECRET_KEY", f"{new},{old}")
    assert main(["vault", "rotate"]) == 0
    assert "1 stored token(s) re-encrypted" in capsys.readouterr().out
    assert CredentialVault.at(state, (new,)).refresh_token("acme", SP_API)[0] == TOKEN
    assert main(["vault", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("acme\tSP_API\tactive\treauthorize by ") and TOKEN not in listed
    monkeypatch.setenv("AMAZON_ASSETS_SECRET_KEY", Fernet.generate_key().decode())
    assert main(["vault", "rotate"]) == 2  # a key that opens nothing: one sentence, nothing lost
    assert "does not decrypt with any key" in capsys.readouterr().err
    assert CredentialVault.at(state, (new,)).refresh_token("acme", SP_API)[0] == TOKEN
