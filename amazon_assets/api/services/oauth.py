"""Connecting a seller: Amazon's consent URLs and the authorization-code exchange.

SP-API (website authorization workflow): the seller is sent to Seller Central's consent page
with the app's id and a `state`; Amazon comes back to the redirect URI with `spapi_oauth_code`,
`state` and `selling_partner_id`. Ads API: Login with Amazon's authorization page with the
`advertising::campaign_management` scope; it comes back with `code`, `scope` and `state`.
Either code is traded at Login with Amazon's token endpoint (`grant_type=authorization_code`,
within five minutes, once) for the seller's refresh token, which goes straight into the vault.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from amazon_assets.settings import ApiSettings, OAuthSettings, Settings
from amazon_assets.sources.retry import redact
from amazon_assets.sources.vault import ADS_API, SP_API, CredentialVault, VaultError

ADS_SCOPE = "advertising::campaign_management"
CALLBACK_PATH = "/v1/amazon/oauth-callback"
_TIMEOUT_SECONDS = 30.0


class ConsentError(Exception):
    """The consent could not be completed; the message is one sentence (never a token)."""


@dataclass(frozen=True)
class Connected:
    """An account whose refresh token is now in the vault."""

    account: str
    api: str
    partner_id: str | None


def oauth_settings(settings: Settings) -> OAuthSettings:
    if settings.oauth is None:
        raise ConsentError("connecting accounts needs settings read from the environment.")
    return settings.oauth


def consent_url(
    settings: Settings, vault: CredentialVault, account: str, api: str, redirect_uri: str
) -> str:
    """Where to send the seller: Amazon's consent page for `api`, with a fresh single-use state."""
    oauth = oauth_settings(settings)
    if not vault.keys:
        # Say it before the seller consents: their token could not be stored afterwards.
        raise ConsentError(
            "AMAZON_ASSETS_SECRET_KEY is not set, so a refresh token could not be stored; set it "
            "to a key from `amazon-assets vault new-key` and restart the API."
        )
    if api == SP_API:
        if not oauth.sp_api_application_id:
            raise ConsentError(
                "SP_API_APP_ID is not set; set it to the app's id from the Developer Console "
                "(amzn1.sp.solution...)."
            )
        if not settings.sp_api.credentials.client_id:
            raise ConsentError("SP_API_CLIENT_ID and SP_API_CLIENT_SECRET must be set.")
        params = {"application_id": oauth.sp_api_application_id}
        if oauth.sp_api_draft:
            params["version"] = "beta"
        base = oauth.sp_api_consent_url
    else:
        if not settings.ads_api.credentials.client_id:
            raise ConsentError("ADS_API_CLIENT_ID and ADS_API_CLIENT_SECRET must be set.")
        params = {
            "client_id": settings.ads_api.credentials.client_id,
            "scope": ADS_SCOPE,
            "response_type": "code",
        }
        base = oauth.ads_api_consent_url
    state = vault.new_state(account, api)
    return f"{base}?{urlencode({**params, 'state': state, 'redirect_uri': redirect_uri})}"


def complete_consent(
    settings: Settings,
    vault: CredentialVault,
    *,
    state: str,
    code: str,
    api: str,
    redirect_uri: str,
    partner_id: str | None = None,
) -> Connected:
    """Check the state, trade the code for a refresh token, store it encrypted."""
    try:
        account = vault.take_state(state, api)
    except VaultError as error:
        raise ConsentError(str(error)) from None
    lwa = settings.sp_api if api == SP_API else settings.ads_api
    refresh_token, access_token = _exchange(lwa, code, redirect_uri, account)
    if api == ADS_API:
        partner_id = _ads_profiles(settings.ads_api, access_token, [refresh_token])
    try:
        vault.store_token(account, api, refresh_token, partner_id)
    except VaultError as error:
        raise ConsentError(str(error)) from None
    return Connected(account, api, partner_id)


def _exchange(lwa: ApiSettings, code: str, redirect_uri: str, account: str) -> tuple[str, str]:
    """(refresh token, access token) for an authorization code; ConsentError in one sentence."""
    credentials = lwa.credentials
    secrets = [code, credentials.client_secret]
    try:
        response = httpx.post(
            lwa.lwa_token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            },
            timeout=_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as error:
        raise ConsentError(
            f"Login with Amazon at {lwa.lwa_token_url} could not be reached "
            f"({type(error).__name__}); start again from /v1/amazon/authorize?account={account}."
        ) from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or "refresh_token" not in answer:
        error = str(answer.get("error") or f"HTTP {response.status_code}")
        said = redact(str(answer.get("error_description") or ""), secrets)
        if error == "invalid_grant":
            reason = "the code was used already or is older than five minutes"
        elif error == "invalid_client":
            reason = "the app's LWA client id or secret is wrong"
        else:
            reason = "Amazon did not say more"
        raise ConsentError(
            f"Login with Amazon refused the authorization code ({error}: {said or 'no detail'}); "
            f"{reason}, so start again from /v1/amazon/authorize?account={account}."
        )
    return str(answer["refresh_token"]), str(answer.get("access_token") or "")


def _ads_profiles(ads: ApiSettings, access_token: str, secrets: list[str]) -> str | None:
    """The advertiser's profile ids (comma-separated), which tell the Ads API whose data to read."""
    try:
        response = httpx.get(
            f"{ads.endpoint}/v2/profiles",
            headers={
                "Amazon-Advertising-API-ClientId": ads.credentials.client_id,
                "Authorization": f"Bearer {access_token}",
            },
            timeout=_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        profiles = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise ConsentError(
            "the Ads API did not list the advertiser's profiles "
            f"({redact(str(error), [access_token, *secrets])}); try connecting again."
        ) from None
    ids = [str(profile.get("profileId")) for profile in profiles if profile.get("profileId")]
    return ",".join(ids) or None
