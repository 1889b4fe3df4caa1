"""Logs an operations team can search: one JSON object per line, a request id and the Celery task id on
every line, and no personal data.

- ``RequestIdMiddleware`` takes the caller's ``X-Request-ID`` (when it looks like an id) or makes one,
  returns it on the response, passes it on to the tasks the request publishes, and logs one line per request.
- Celery signals put the task id (and the request id that published the task) on every line a task logs.
- ``PersonalDataFilter`` masks personnummer, phone numbers and e-mail addresses in a record's message, its
  arguments and its traceback, before any formatter sees them.
- ``JsonFormatter`` writes the record as one JSON object; ``LOG_FORMAT=plain`` keeps the readable format.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from bevaka.http import client_ip

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
task_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}\Z")
_CELERY_HEADER = "bevaka_request_id"

# --- Masking --------------------------------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![\w.+-])(?!celery@)[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 10 or 12 digits with an optional - or + before the last four: 19780412-9802, 7804129802, 780412+9802.
_PERSONNUMMER = re.compile(r"(?<![\w.-])(?:19|20)?\d{6}[-+]?\d{4}(?![\w-])")
# International (+46…, 0046…) or Swedish national (07…) numbers, with spaces or dashes between digits.
_PHONE = re.compile(r"(?<![\w.+-])(?:\+|00|0)\d(?:[ -]?\d){6,13}(?![\w-])")


def _mask_email(match: re.Match) -> str:
    local, _, domain = match.group(0).rpartition("@")
    return f"{local[:1]}***@{domain}"


def _mask_phone(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"***{digits[-2:]}"


def mask_personal_data(text: str) -> str:
    """``text`` with e-mail addresses, personnummer and phone numbers masked (``a***@bank.se``,
    ``[personnummer]``, ``***67``)."""
    if not text:
        return text
    text = _EMAIL.sub(_mask_email, text)
    text = _PERSONNUMMER.sub("[personnummer]", text)
    return _PHONE.sub(_mask_phone, text)


class PersonalDataFilter(logging.Filter):
    """Mask personal data in the rendered message (so in its arguments too) and in the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the template, drop the arguments
            message = str(record.msg)
        record.msg = mask_personal_data(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_personal_data(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_personal_data(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    """Put the current request id and Celery task id on the record (empty outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", "") or request_id_var.get()
        record.task_id = getattr(record, "task_id", "") or task_id_var.get()
        return True


_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "ids",
    "asctime",
    "request_id",
    "task_id",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, task_id, exception, and
    any ``extra`` fields the caller gave."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
            "task_id": getattr(record, "task_id", ""),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | type(None)) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """Readable lines for a terminal (``make run``): the ids in brackets only when there are any."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(i for i in (getattr(record, "request_id", ""), getattr(record, "task_id", "")) if i)
        record.ids = f" [{ids}]" if ids else ""
        return super().format(record)


# --- Request id -----------------------------------------------------------------------------------------
request_log = logging.getLogger("bevaka.request")


class RequestIdMiddleware:
    """Give every request an id: the caller's ``X-Request-ID`` when it is a plausible id, else a new one;
    return it in the response header and log one line per request (method, path, status, duration)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            request_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "status": response.status_code,
                    "client_ip": client_ip(request),
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


# --- Celery ---------------------------------------------------------------------------------------------
def connect_celery_signals() -> None:
    """Carry the request id into the tasks a request publishes; set the task id while a task runs."""
    from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

    @setup_logging.connect(weak=False)
    def _keep_django_logging(**kwargs) -> None:
        # Connected, so that Celery leaves logging to Django's LOGGING (our formatter and filters).
        from django.conf import settings
        from django.utils.log import configure_logging

        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)

    @before_task_publish.connect(weak=False)
    def _add_request_id(headers=None, **kwargs) -> None:
        request_id = request_id_var.get()
        if headers is not None and request_id:
            headers.setdefault(_CELERY_HEADER, request_id)

    @task_prerun.connect(weak=False)
    def _set_task_context(task_id=None, task=None, **kwargs) -> None:
        task_id_var.set(task_id or "")
        request = getattr(task, "request", None)
        request_id_var.set(str(getattr(request, _CELERY_HEADER, None) or ""))

    @task_postrun.connect(weak=False)
    def _clear_task_context(**kwargs) -> None:
        task_id_var.set("")
        request_id_var.set("")


def logging_config(*, log_format: str, level: str) -> dict:
    """Django's LOGGING: one console handler, masking and context on every record, JSON or plain."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "bevaka.observability.ContextFilter"},
            "personal_data": {"()": "bevaka.observability.PersonalDataFilter"},
        },
        "formatters": {
            "json": {"()": "bevaka.observability.JsonFormatter"},
            "plain": {"()": "bevaka.observability.PlainFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context", "personal_data"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # Django's own request logger repeats what ours says, and would log 4xx paths at WARNING.
        "loggers": {"django.server": {"level": "WARNING"}},
    }
