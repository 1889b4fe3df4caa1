"""English dates for a Swedish bank: day month year, 24-hour clock (Django's "en" writes "Dec. 1, 2026, 8:15 p.m.")."""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
