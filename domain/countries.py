"""Countries whose operators never return SMS delivery reports.

From the product page (reference/seed-infobip-sms-integration.txt). A message to
one of them expects no report: `enqueued` is the last status it will have, and its
waiting window closes as "no report expected", never as a failure.
"""

COUNTRIES_WITHOUT_DELIVERY_REPORTS: frozenset[str] = frozenset(
    {
        "BD",  # Bangladesh
        "BJ",  # Benin
        "BR",  # Brazil
        "BI",  # Burundi
        "KH",  # Cambodia
        "DE",  # Germany
        "GP",  # Guadeloupe
        "GU",  # Guam
        "HK",  # Hong Kong
        "ID",  # Indonesia
        "KW",  # Kuwait
        "MY",  # Malaysia
        "MH",  # Marshall Islands
        "MR",  # Mauritania
        "MX",  # Mexico
        "NR",  # Nauru
        "MP",  # Northern Mariana Islands
        "PK",  # Pakistan
        "PA",  # Panama
        "PG",  # Papua New Guinea
        "PE",  # Peru
        "WS",  # Samoa
        "SB",  # Solomon Islands
        "SS",  # South Sudan
        "LK",  # Sri Lanka
        "SD",  # Sudan
        "TJ",  # Tajikistan
        "TL",  # Timor-Leste
        "TO",  # Tonga
        "TV",  # Tuvalu
        "UZ",  # Uzbekistan
        "VE",  # Venezuela
        "VN",  # Vietnam
        "WF",  # Wallis and Futuna
    }
)


def expects_delivery_reports(country: str | None) -> bool:
    return country not in COUNTRIES_WITHOUT_DELIVERY_REPORTS
