"""No personal data in logs: every log record the suite produces, and everything the processes it starts
print, is searched for personnummer, phone numbers, e-mail addresses and alert texts.

``tests/conftest.py`` installs the two fixtures below: a handler on the root logger for the whole session,
and a check after every test of what was logged during it (and what started processes printed since the
last check), which fails that test's teardown naming the record, with the personal data masked.

Not searched: the fakes of the outside world (the SMTP sink, the fake Twilio server, the mock BankID
server) — they stand for the provider's and BankID's own logs, which hold the destinations by nature.
"""

from __future__ import annotations

import datetime
import logging
import re
import socket
from dataclasses import dataclass

import pytest

from companies.identity import luhn_checksum_ok

_PERSONNUMMER_12 = re.compile(r"(?<![\d])((?:19|20)\d{6})[-+]?(\d{4})(?![\d])")
_PERSONNUMMER_10 = re.compile(r"(?<![\d-])(\d{6})[-+](\d{4})(?![\d])")
_PHONE = re.compile(
    r"(?<![\w*.])\+\d{1,3} ?\d{2,3}(?: ?\d){5,9}(?![\d*])"  # international, E.164 or spaced
    r"|(?<![\w*+.-])07\d(?:[\s-]?\d){7}(?![\d-])"  # a Swedish mobile number, written nationally
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"(?<![\w.*+-])[\w.+-]+@([\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,})\b")
# The fixed sentences of the alert and code texts (Swedish and English): an alert body, whole or cut.
_ALERT_SENTENCES = [
    "Logga in i internetbanken för att se ärendet",
    "Log in to the internet bank to see the case",
    "Din kod till Bevaka ärenden är",
    "Your code for Bevaka ärenden is",
]
# Our own addresses and machine names are not a person's.
_OWN_DOMAINS = {"bevaka.localhost", "bank.example"}


def _valid_date(digits: str) -> bool:
    """YYMMDD or YYYYMMDD, with a samordningsnummer's day + 60 allowed."""
    digits = digits[-6:]
    month, day = int(digits[2:4]), int(digits[4:6])
    if day > 60:
        day -= 60
    try:
        datetime.date(2000, month, day)  # a leap year: 29 February passes
    except ValueError:
        return False
    return True


def find_personal_data(text: str) -> list[str]:
    """What kinds of personal data ``text`` contains ("personnummer", "phone", "e-mail", "alert text")."""
    text = _UUID.sub("<uuid>", text)  # task and order ids are no one's number
    found = []
    for pattern in (_PERSONNUMMER_12, _PERSONNUMMER_10):
        for match in pattern.finditer(text):
            date, serial = match.group(1), match.group(2)
            if _valid_date(date) and luhn_checksum_ok(date[-6:] + serial):
                found.append("personnummer")
                break
    if _PHONE.search(text):
        found.append("phone")
    hosts = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for match in _EMAIL.finditer(text):
        domain = match.group(1).lower()
        if domain not in _OWN_DOMAINS and domain not in hosts and not match.group(0).startswith("celery@"):
            found.append("e-mail")
            break
    if any(sentence in text for sentence in _ALERT_SENTENCES):
        found.append("alert text")
    return sorted(set(found))


def mask(text: str) -> str:
    for pattern in (_PERSONNUMMER_12, _PERSONNUMMER_10, _PHONE, _EMAIL):
        text = pattern.sub("<masked>", text)
    return text[:300]


# --- capturing -------------------------------------------------------------------------------------------

OUTSIDE_WORLD_LOGGERS = ("mail.log", "notifications.fakes", "signing.mock", "aiosmtpd")
OUTSIDE_WORLD_COMMANDS = ("mock_bankid", "fake_twilio", "smtp_sink")


@dataclass
class Captured:
    source: str
    text: str


class CapturingHandler(logging.Handler):
    """Keeps every record (message and exception text) that reaches the root logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[Captured] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(OUTSIDE_WORLD_LOGGERS):
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.records.append(Captured(f"log {record.name}:{record.levelname}", text))


HANDLER = CapturingHandler()


def _new_process_output() -> list[Captured]:
    """Lines that processes started by the harness printed since the last call."""
    import harness

    captured = []
    for process in list(harness.STARTED):
        if any(command in " ".join(map(str, process.args)) for command in OUTSIDE_WORLD_COMMANDS):
            continue
        seen = harness.SCANNED.get(id(process), 0)
        lines = process.lines[:]
        harness.SCANNED[id(process)] = len(lines)
        name = " ".join(str(a) for a in process.args[1:4])
        captured.extend(Captured(f"output of {name}", line) for line in lines[seen:])
    for args, output in harness.COMMAND_OUTPUTS[:]:
        captured.append(Captured(f"output of {' '.join(str(a) for a in args[1:4])}", output))
    harness.COMMAND_OUTPUTS.clear()
    return captured


@pytest.fixture(scope="session", autouse=True)
def privacy_log_handler():
    """The root logger's capturing handler, for the whole session."""
    _attach()
    yield HANDLER
    logging.getLogger().removeHandler(HANDLER)


def _attach() -> None:
    """First among the root's handlers, so that it sees each record before the masking filter of the
    console handler (bevaka.observability) rewrites it; again after a test reconfigured logging, which
    drops the root's handlers."""
    root = logging.getLogger()
    if HANDLER not in root.handlers:
        root.handlers.insert(0, HANDLER)


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(privacy_log_handler, request):
    """Fail the test (at teardown) if it logged, or made a process print, personal data — counting what
    module- and session-scoped fixtures logged since the previous test's check, too."""
    _attach()
    yield
    captured = privacy_log_handler.records[:] + _new_process_output()
    privacy_log_handler.records.clear()
    if request.node.get_closest_marker("logs_personal_data_on_purpose"):
        return
    leaks = [(c, find_personal_data(c.text)) for c in captured]
    leaks = [f"{c.source}: {', '.join(kinds)} in {mask(c.text)!r}" for c, kinds in leaks if kinds]
    if leaks:
        pytest.fail("personal data in the logs:\n" + "\n".join(leaks[:20]), pytrace=False)
