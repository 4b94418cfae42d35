"""ISO 4217 currency codes that a price plan may use, with their minor units.

No installed package provides ISO 4217 data, and the standard library has none. This module
therefore keeps the active codes of ISO 4217 list one, as published by its maintenance agency
(SIX) in 2025, with the number of decimal places of each currency's minor unit. Codes without
a minor unit (gold, silver, special drawing rights, test and "no currency" codes such as XXX)
are left out, because an amount in them cannot be rounded to a minor unit.

NOTE: the table changes when ISO 4217 adds or withdraws a code (recent examples: XCG replaced ANG,
ZWG replaced ZWL, SLE replaced SLL). Add new codes here; keep a withdrawn code as long as plans
may still bill in it.
"""

from __future__ import annotations

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP "
    "GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT "
    "LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN "
    "NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE "
    "SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES "
    "WST XCD XCG YER ZAR ZMW ZWG"
)

# Decimal places of the minor unit, by ISO 4217 alphabetic code.
MINOR_UNITS: dict[str, int] = {
    **{code: 0 for code in _ZERO_DECIMALS.split()},
    **{code: 2 for code in _TWO_DECIMALS.split()},
    **{code: 3 for code in _THREE_DECIMALS.split()},
    **{code: 4 for code in _FOUR_DECIMALS.split()},
}


def currency_problem(code: str) -> str | None:
    """Return why `code` cannot be a price plan's currency, or None if it can."""
    if code in MINOR_UNITS:
        return None
    if code.upper() in MINOR_UNITS:
        return f"--currency {code!r} must be upper case: use {code.upper()}."
    return (
        f"--currency {code!r} is not an ISO 4217 currency code with a minor unit; "
        "use a three-letter code such as EUR, USD or JPY."
    )
