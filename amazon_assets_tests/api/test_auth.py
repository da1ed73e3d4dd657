"""Tokens: what they claim, and every way one is refused (in one sentence, never echoed)."""

import jwt
import pytest

from amazon_assets.api.auth import AuthError, Role, bearer_token, decode_token, mint_token

SECRET, ISSUER = "k" * 48, "amazon-assets"
DAY = 86_400


def test_a_minted_token_names_its_role_and_accounts() -> None:
    token = mint_token(SECRET, ISSUER, "alice", "analyst", ["globex", "acme", "acme"], 60)
    principal = decode_token(SECRET, ISSUER, token)
    assert (principal.subject, principal.role) == ("alice", Role.analyst)
    assert principal.accounts == frozenset({"acme", "globex"})
    assert principal.may(Role.viewer) and not principal.may(Role.admin)
    assert principal.may_read("acme") and not principal.may_read("initech")
    assert principal.scope_key == "acme,globex"


def test_every_account_is_for_admins_only() -> None:
    admin = decode_token(SECRET, ISSUER, mint_token(SECRET, ISSUER, "ops", "admin", ["*"], 60))
    assert admin.accounts is None and admin.may_read("anyone")
    with pytest.raises(ValueError, match="admin tokens only"):
        mint_token(SECRET, ISSUER, "bob", "viewer", ["*"], 60)
    # Forged with the right key but a viewer claiming every account: refused anyway.
    forged = jwt.encode(
        {
            "iss": ISSUER,
            "aud": "amazon-assets-api",
            "sub": "bob",
            "role": "viewer",
            "accounts": ["*"],
            "iat": 1,
            "exp": 2**40,
        },
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(AuthError, match="admin tokens only"):
        decode_token(SECRET, ISSUER, forged)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        # Minted at collection: valid for a day, so a long suite cannot expire them first.
        (mint_token("x" * 48, ISSUER, "eve", "viewer", ["acme"], DAY), "InvalidSignatureError"),
        (mint_token(SECRET, "someone-else", "eve", "viewer", ["acme"], DAY), "InvalidIssuerError"),
        (mint_token(SECRET, ISSUER, "eve", "viewer", ["acme"], 1, now=1_000_000), "expired"),
        ("not.a.token", "DecodeError"),
        (jwt.encode({"sub": "eve"}, SECRET, algorithm="HS512"), "InvalidAlgorithmError"),
    ],
)
def test_bad_tokens_are_refused(token: str, message: str) -> None:
    with pytest.raises(AuthError, match=message) as error:
        decode_token(SECRET, ISSUER, token)
    assert token not in str(error.value)


def test_authorization_header_must_be_bearer() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    for header in (None, "", "Basic dXNlcg==", "Bearer "):
        with pytest.raises(AuthError):
            bearer_token(header)


def test_the_token_command_mints_what_the_api_accepts(amazon_home, capsys) -> None:
    from amazon_assets.cli import main
    from amazon_assets.settings import Settings

    assert main(["token", "--subject", "dash", "--role", "analyst", "--account", "acme"]) == 0
    token = capsys.readouterr().out.strip()
    settings = Settings.from_env()
    principal = decode_token(settings.jwt_signing_key(), settings.serving.jwt_issuer, token)
    assert (principal.subject, principal.role, principal.accounts) == (
        "dash",
        Role.analyst,
        frozenset({"acme"}),
    )
    # The key was created once, private to its owner.
    assert (amazon_home / "api_jwt_secret").stat().st_mode & 0o777 == 0o600
    assert main(["token", "--subject", "x", "--account", "*"]) == 2
    assert "admin tokens only" in capsys.readouterr().err
