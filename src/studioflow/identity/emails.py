"""Email addresses: validation, normalisation and a look-alike-proof canonical form."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

# Providers that ignore dots in the local part (and alias domains) deliver
# a.da@gmail.com and ada@googlemail.com to the same inbox as ada@gmail.com.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


class InvalidEmail(ValueError):
    pass


def normalise_email(raw: str) -> str:
    """A valid, lower-cased ASCII address, or InvalidEmail.

    Non-ASCII addresses are refused: they are where look-alike (homograph) accounts hide,
    and the SMTP servers we send through may not speak SMTPUTF8 anyway.
    """
    text = unicodedata.normalize("NFKC", raw.strip())
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None
    # ``allow_smtputf8=False`` bounds only the local part: an internationalised domain
    # (``ex\u0430mple.org``, a Cyrillic a) still passed and displayed like its Latin twin.
    if not result.normalized.isascii():
        raise InvalidEmail("Use the address's ASCII form: letters, digits and . - only.")
    return result.normalized.lower()


def canonical_email(normalised: str) -> str:
    """The inbox an address reaches: +tags dropped, provider-specific dots and aliases folded."""
    local, _, domain = normalised.partition("@")
    local = local.split("+", 1)[0]
    if domain in _DOTLESS:
        local = local.replace(".", "")
        domain = _DOTLESS[domain]
    return f"{local}@{domain}"
