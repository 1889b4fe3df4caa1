"""send_delivery in the test process, through the real twilio client against the fake Twilio server and
Django's SMTP backend against the SMTP sink: what each provider answer leaves in the database."""

import datetime
import socket

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Delivery, DeliveryStatus, SuspendedDestination
from tests.factories import UserFactory

from .conftest import SENDER

pytestmark = pytest.mark.django_db

NUMBER = "+46701234567"
ADDRESS = "anna@example.se"


def queue_sms(**kwargs) -> Delivery:
    return services.queue_delivery(
        channel="sms", destination=NUMBER, purpose="alert", body="Nytt ärende i banken.", **kwargs
    )


def queue_email(**kwargs) -> Delivery:
    fields = {
        "subject": "Nytt ärende",
        "body": "Logga in i banken.",
        "html_body": "<p>Logga in i banken.</p>",
    }
    fields.update(kwargs)
    return services.queue_delivery(channel="email", destination=ADDRESS, purpose="alert", **fields)


def send(delivery: Delivery) -> Delivery:
    services.send_delivery(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_it_sends_an_sms_with_our_delivery_id_in_the_status_callback(send_settings, fake_twilio):
    delivery = send(queue_sms())

    [message] = fake_twilio.messages()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.provider_id == message["sid"] and message["sid"].startswith("SM")
    assert delivery.attempts == 1
    assert message["to"] == NUMBER and message["from"] == SENDER and message["body"] == "Nytt ärende i banken."
    assert message["status_callback"] == f"http://127.0.0.1:9/webhooks/twilio/status/{delivery.pk}"


def test_a_thread_works_out_its_connection_pool_once_not_for_every_sms(
    send_settings, fake_twilio, monkeypatch, tmp_path
):
    # With a CA bundle named by the environment, requests stats it (os.path.isdir) for every request: a
    # fifth of the SMS lane's busy samples in a burst's profile (issue 21). The adapter remembers it per host.
    import os.path

    from notifications.channels import sms

    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setattr(sms._local, "client", None, raising=False)  # a new client for this thread
    looked_up = []
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda path: looked_up.append(path) or real_isdir(path))
    sent = [send(queue_sms()) for _ in range(3)]
    assert [d.status for d in sent] == [DeliveryStatus.SENT] * 3 and len(fake_twilio.messages()) == 3
    assert looked_up.count(str(bundle)) == 1


def test_it_sends_through_a_messaging_service_when_one_is_configured(send_settings, fake_twilio):
    send_settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "2" * 32
    send(queue_sms())
    assert fake_twilio.messages()[0]["from"] == "MG" + "2" * 32


def test_a_task_run_twice_sends_once(send_settings, fake_twilio):
    delivery = queue_sms()
    services.send_delivery(delivery_id=delivery.pk)
    services.send_delivery(delivery_id=delivery.pk)
    assert len(fake_twilio.messages()) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_it_does_not_send_a_delivery_whose_retry_is_not_due_yet(send_settings, fake_twilio):
    delivery = queue_sms()
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + datetime.timedelta(minutes=5))
    assert send(delivery).status == DeliveryStatus.QUEUED
    assert fake_twilio.messages() == []


def test_a_429_schedules_a_retry_with_back_off(send_settings, fake_twilio):
    fake_twilio.fault("http_429", count=1)
    before = timezone.now()
    delivery = send(queue_sms())
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.error_code == "20429"
    assert delivery.last_error.startswith("transient")
    assert delivery.next_attempt_at > before
    assert delivery.relayed_at is None  # the relay publishes it when due


def test_transient_failures_give_up_after_the_maximum_attempts(send_settings, fake_twilio):
    send_settings.NOTIFICATIONS_MAX_ATTEMPTS = 2
    fake_twilio.fault("http_429")
    delivery = queue_sms()
    send(delivery)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery = send(delivery)
    assert delivery.status == DeliveryStatus.FAILED
    assert "gave up after 2 attempts" in delivery.last_error


@pytest.mark.parametrize(
    ("mode", "code", "reason"),
    [("invalid_number", "21211", "invalid"), ("opted_out", "21610", "opted_out")],
)
def test_a_permanent_error_fails_at_once_and_suspends_the_number(send_settings, fake_twilio, mode, code, reason):
    user = UserFactory()
    fake_twilio.fault(mode)
    delivery = send(queue_sms(user=user))
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == code
    suspension = SuspendedDestination.objects.get(channel="sms", destination=NUMBER)
    assert suspension.reason == reason and suspension.user == user
    assert services.is_suspended(channel="sms", destination=NUMBER)


def test_a_suspended_number_gets_nothing_more(send_settings, fake_twilio):
    services.suspend_destination(channel="sms", destination=NUMBER, reason="invalid", error_code="21211")
    delivery = queue_sms()
    assert delivery.status == DeliveryStatus.CANCELLED
    assert "suspended" in delivery.last_error
    send(delivery)
    assert fake_twilio.messages() == []


def test_an_opt_out_is_lifted_only_by_an_opt_in(send_settings):
    services.suspend_destination(channel="sms", destination=NUMBER, reason="opted_out", error_code="21610")
    assert services.clear_suspension(channel="sms", destination=NUMBER) is False
    assert services.is_suspended(channel="sms", destination=NUMBER)
    assert services.clear_suspension(channel="sms", destination=NUMBER, opted_in=True) is True
    assert not services.is_suspended(channel="sms", destination=NUMBER)


def test_other_suspensions_are_lifted_without_an_opt_in(send_settings):
    services.suspend_destination(channel="email", destination=ADDRESS, reason="bounced", error_code="550")
    assert services.clear_suspension(channel="email", destination=ADDRESS.upper()) is True


@pytest.mark.parametrize("mode", ["http_500", "accept_then_500"])
def test_a_500_is_ambiguous_and_waits_for_the_callback_instead_of_resending(send_settings, fake_twilio, mode):
    fake_twilio.fault(mode, count=1)
    before = timezone.now()
    delivery = send(queue_sms())
    assert delivery.status == DeliveryStatus.SENDING
    assert delivery.last_error.startswith("ambiguous")
    assert delivery.next_attempt_at >= before + datetime.timedelta(seconds=1)


def test_a_timeout_after_sending_is_ambiguous(send_settings, fake_twilio):
    fake_twilio.fault("timeout", count=1, hang_seconds=3)
    delivery = send(queue_sms())
    assert delivery.status == DeliveryStatus.SENDING
    assert delivery.last_error.startswith("ambiguous")


def test_a_refused_connection_is_transient(send_settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        send_settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{closed.getsockname()[1]}"
        delivery = send(queue_sms())
    assert delivery.status == DeliveryStatus.QUEUED
    assert "could not connect" in delivery.last_error


def test_wrong_credentials_are_refused_by_the_fake_and_retried_later(send_settings, fake_twilio):
    send_settings.TWILIO_AUTH_TOKEN = "wrong"
    delivery = send(queue_sms())
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.error_code == "20003"
    assert fake_twilio.messages() == []


def test_an_email_carries_our_delivery_id_and_both_bodies(send_settings, smtp_sink):
    delivery = send(queue_email())
    [message] = smtp_sink.messages
    assert delivery.status == DeliveryStatus.SENT
    assert message["X-Bevaka-Delivery"] == str(delivery.pk)
    assert message["To"] == ADDRESS
    assert message["Subject"] == "Nytt ärende"
    assert message.get_body(("plain",)).get_content().strip() == "Logga in i banken."
    assert "<p>Logga in i banken.</p>" in message.get_body(("html",)).get_content()
    assert delivery.provider_id == message["Message-ID"]
    assert message["List-Unsubscribe"] is None


def test_an_email_to_a_delivery_with_a_long_id_and_domain_is_recorded_sent_once(send_settings, smtp_sink):
    """Found by make chaos: past delivery 999 the Message-ID outgrew the 64-character provider id, the
    outcome could not be stored, and the relay sent the same e-mail again and again."""
    send_settings.EMAIL_MESSAGE_ID_DOMAIN = "alerts.corporate-internet-bank.example.com"
    delivery = queue_email()
    Delivery.objects.filter(pk=delivery.pk).update(id=987654321)
    delivery = send(Delivery.objects.get(pk=987654321))
    [message] = smtp_sink.messages
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.provider_id == message["Message-ID"].strip()  # a header this long is folded
    assert len(delivery.provider_id) > 64


def test_an_email_has_one_click_unsubscribe_headers_only_when_given_a_url(send_settings, smtp_sink):
    url = "https://bank.example/avregistrera/abc"
    send(queue_email(unsubscribe_url=url))
    [message] = smtp_sink.messages
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url not in message.get_body(("plain",)).get_content()


def test_an_smtp_4xx_is_retried(send_settings, smtp_sink):
    smtp_sink.fail(451, count=1)
    delivery = send(queue_email())
    assert delivery.status == DeliveryStatus.QUEUED and delivery.error_code == "451"
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery = send(delivery)
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2
    assert len(smtp_sink.messages) == 1


def test_an_smtp_5xx_fails_at_once_and_suspends_the_address(send_settings, smtp_sink):
    smtp_sink.fail(550, count=1)
    delivery = send(queue_email())
    assert delivery.status == DeliveryStatus.FAILED and delivery.error_code == "550"
    assert SuspendedDestination.objects.get(channel="email", destination=ADDRESS).reason == "bounced"
    assert smtp_sink.messages == []


def test_one_thread_sends_its_emails_over_one_kept_connection(send_settings, smtp_sink):
    for _ in range(3):
        assert send(queue_email()).status == DeliveryStatus.SENT
    assert (len(smtp_sink.messages), smtp_sink.sessions) == (3, 1)


def test_after_an_smtp_error_the_next_email_opens_a_new_connection(send_settings, smtp_sink):
    send(queue_email())
    smtp_sink.fail(451, count=1)
    assert send(queue_email()).error_code == "451"
    assert send(queue_email()).status == DeliveryStatus.SENT
    assert (len(smtp_sink.messages), smtp_sink.sessions) == (2, 2)


def test_a_kept_connection_the_server_dropped_is_replaced_without_an_error(send_settings, smtp_sink, monkeypatch):
    from notifications.channels import email

    send(queue_email())
    email._local.connection.connection.sock.shutdown(socket.SHUT_RDWR)  # as a server's idle timeout would
    monkeypatch.setattr(email, "IDLE_CHECK_SECONDS", 0.0)
    delivery = send(queue_email())
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)
    assert (len(smtp_sink.messages), smtp_sink.sessions) == (2, 2)


def test_a_kept_connection_is_not_used_for_other_mail_settings(send_settings, smtp_sink):
    from notifications.fakes.smtp_sink import SmtpSink

    send(queue_email())
    other = SmtpSink().start()
    try:
        send_settings.EMAIL_PORT = other.port
        send(queue_email())
        assert (len(smtp_sink.messages), len(other.messages)) == (1, 1)
    finally:
        other.stop()


def test_an_unreachable_smtp_server_is_transient(send_settings):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        send_settings.EMAIL_PORT = closed.getsockname()[1]
        delivery = send(queue_email())
    assert delivery.status == DeliveryStatus.QUEUED
    assert "could not connect" in delivery.last_error


def test_queue_delivery_publishes_its_send_task_only_after_commit(send_settings, django_capture_on_commit_callbacks):
    from unittest import mock

    with mock.patch("notifications.tasks.send_batch.apply_async") as publish:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            delivery = queue_sms()
        publish.assert_not_called()
        for callback in callbacks:
            callback()
    publish.assert_called_once()
    assert publish.call_args.kwargs["kwargs"] == {"delivery_ids": [delivery.pk]}
    assert publish.call_args.kwargs["queue"] == "sms"


def test_queue_delivery_refuses_an_unknown_channel():
    with pytest.raises(services.DeliveryError):
        services.queue_delivery(channel="fax", destination="1", purpose="alert", body="x")
