"""GSM 03.38 (GSM-7): which texts fit an SMS without falling back to UCS-2, and how many segments they take.

å, ä, ö, é and ü are in the GSM-7 alphabet; a non-breaking space, a typographic quote (’ “ ”) or an en dash
is not, and one of them turns the whole message into UCS-2 (70 characters per segment instead of 160).
"""

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"  # each takes two septets (escape + character)
_BASIC = frozenset(GSM7_BASIC)
_EXTENSION = frozenset(GSM7_EXTENSION)

SINGLE_SEGMENT_SEPTETS = 160


def non_gsm7_characters(text: str) -> list[str]:
    """The characters of ``text`` outside GSM-7, in order of appearance, without repeats."""
    seen: list[str] = []
    for char in text:
        if char not in _BASIC and char not in _EXTENSION and char not in seen:
            seen.append(char)
    return seen


def is_gsm7(text: str) -> bool:
    return not non_gsm7_characters(text)


def septets(text: str) -> int:
    """Length of ``text`` in GSM-7 septets (extension characters count twice)."""
    return sum(2 if char in _EXTENSION else 1 for char in text)


def segments(text: str) -> int:
    """How many SMS segments ``text`` takes (GSM-7 160/153, otherwise UCS-2 70/67 characters)."""
    if is_gsm7(text):
        length, single, multi = septets(text), 160, 153
    else:
        length, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    if length <= single:
        return 1
    return -(-length // multi)
