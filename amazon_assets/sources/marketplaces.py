"""Amazon's marketplaces: id, country, name, SP-API region, currency, local time zone.

From Amazon's public SP-API documentation ("Marketplace IDs"); the region is the AWS region name
the SP-API endpoint of that marketplace lives in (NA us-east-1, EU eu-west-1, FE us-west-2).
`decimal_comma` marks marketplaces whose flat files (settlements) write amounts like `1.234,56`.
"""

from __future__ import annotations

from dataclasses import dataclass

NA, EU, FE = "us-east-1", "eu-west-1", "us-west-2"


@dataclass(frozen=True)
class Marketplace:
    """One Amazon marketplace."""

    marketplace_id: str
    country_code: str
    name: str  # as Amazon writes it in documents (sales-channel, marketplace-name)
    region: str
    currency: str
    time_zone: str
    decimal_comma: bool = False


MARKETPLACES: dict[str, Marketplace] = {
    m.marketplace_id: m
    for m in (
        Marketplace("ATVPDKIKX0DER", "US", "Amazon.com", NA, "USD", "America/Los_Angeles"),
        Marketplace("A2EUQ1WTGCTBG2", "CA", "Amazon.ca", NA, "CAD", "America/Los_Angeles"),
        Marketplace("A1AM78C64UM0Y8", "MX", "Amazon.com.mx", NA, "MXN", "America/Mexico_City"),
        Marketplace("A2Q3Y263D00KWC", "BR", "Amazon.com.br", NA, "BRL", "America/Sao_Paulo", True),
        Marketplace("A1F83G8C2ARO7P", "GB", "Amazon.co.uk", EU, "GBP", "Europe/London"),
        Marketplace("A1PA6795UKMFR9", "DE", "Amazon.de", EU, "EUR", "Europe/Berlin", True),
        Marketplace("A13V1IB3VIYZZH", "FR", "Amazon.fr", EU, "EUR", "Europe/Paris", True),
        Marketplace("APJ6JRA9NG5V4", "IT", "Amazon.it", EU, "EUR", "Europe/Rome", True),
        Marketplace("A1RKKUPIHCS9HS", "ES", "Amazon.es", EU, "EUR", "Europe/Madrid", True),
        Marketplace("A1805IZSGTT6HS", "NL", "Amazon.nl", EU, "EUR", "Europe/Amsterdam", True),
        Marketplace("AMEN7PMS3EDWL", "BE", "Amazon.com.be", EU, "EUR", "Europe/Brussels", True),
        Marketplace("A28R8C7NBKEWEA", "IE", "Amazon.ie", EU, "EUR", "Europe/Dublin"),
        Marketplace("A2NODRKZP88ZB9", "SE", "Amazon.se", EU, "SEK", "Europe/Stockholm", True),
        Marketplace("A1C3SOZRARQ6R3", "PL", "Amazon.pl", EU, "PLN", "Europe/Warsaw", True),
        Marketplace("A33AVAJ2PDY3EV", "TR", "Amazon.com.tr", EU, "TRY", "Europe/Istanbul", True),
        Marketplace("A2VIGQ35RCS4UG", "AE", "Amazon.ae", EU, "AED", "Asia/Dubai"),
        Marketplace("A17E79C6D8DWNP", "SA", "Amazon.sa", EU, "SAR", "Asia/Riyadh"),
        Marketplace("ARBP9OOSHTCHU", "EG", "Amazon.eg", EU, "EGP", "Africa/Cairo"),
        Marketplace("A21TJRUUN4KGV", "IN", "Amazon.in", EU, "INR", "Asia/Kolkata"),
        Marketplace("AE08WJ6YKNBMC", "ZA", "Amazon.co.za", EU, "ZAR", "Africa/Johannesburg"),
        Marketplace("A1VC38T7YXB528", "JP", "Amazon.co.jp", FE, "JPY", "Asia/Tokyo"),
        Marketplace("A39IBJ37TRP1C6", "AU", "Amazon.com.au", FE, "AUD", "Australia/Sydney"),
        Marketplace("A19VAU5U5O7RUS", "SG", "Amazon.sg", FE, "SGD", "Asia/Singapore"),
    )
}
# A region's marketplace when none is named: only North America has an obvious one.
REGION_DEFAULT = {NA: "ATVPDKIKX0DER"}


def marketplace(marketplace_id: str) -> Marketplace:
    """The marketplace of an id (KeyError naming it when Amazon has no such marketplace)."""
    try:
        return MARKETPLACES[marketplace_id]
    except KeyError:
        raise KeyError(f"{marketplace_id!r} is not an Amazon marketplace id") from None


def currency_of(marketplace_id: str | None) -> str | None:
    """The currency of a marketplace id, or None when it is unknown or missing."""
    known = MARKETPLACES.get(marketplace_id or "")
    return known.currency if known else None
