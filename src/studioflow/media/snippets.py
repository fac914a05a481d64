"""Share snippets for an image (the "Share" box of its page): each escaped for its language.

A title is the owner's text and ends up pasted into other people's pages and posts, so the
HTML snippet escapes it as an attribute value and the Markdown one escapes what would end the
alt text or start markup; without that a title such as ``"><img src=x onerror=…>`` ran
script wherever the snippet was pasted.
"""

from __future__ import annotations

import html
import re

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can
# end the alt text, open a link or inline HTML, or start emphasis or code.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#!|])")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def markdown_image(title: str, url: str) -> str:
    alt = _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(title))
    return f"![{alt}]({url.replace(')', '%29').replace(' ', '%20')})"


def html_image(title: str, url: str, width: int, height: int) -> str:
    alt = html.escape(_one_line(title), quote=True)
    return (
        f'<img src="{html.escape(url, quote=True)}" alt="{alt}" width="{width}" height="{height}">'
    )


def bbcode_image(url: str) -> str:
    # Our own URL: no brackets to break out of, and BBCode has no escapes to offer.
    return f"[img]{url.replace('[', '%5B').replace(']', '%5D')}[/img]"
