# The fake Twilio server and the SMTP sink of the notification tests, reused here.
from tests.notifications.conftest import (  # noqa: F401
    fake_twilio,
    fake_twilio_server,
    send_settings,
    smtp_sink,
    smtp_sink_server,
)
