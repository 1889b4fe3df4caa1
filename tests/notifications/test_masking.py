import pytest

from notifications.services import mask_destination


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+46701234512", "+46 70*** **12"),
        ("0701234512", "+46 70*** **12"),
        ("anna@example.se", "a***@example.se"),
        ("+4790123456", "+47 90*** **56"),
        ("", ""),
    ],
)
def test_it_masks_phone_numbers_and_addresses(value, masked):
    assert mask_destination(value) == masked


def test_a_delivery_shows_only_its_masked_destination():
    from notifications.models import Delivery

    delivery = Delivery(pk=7, channel="sms", destination="+46701234512", purpose="alert", body="x")
    assert str(delivery) == "Sms #7 → +46 70*** **12"
    assert "1234" not in str(delivery)
