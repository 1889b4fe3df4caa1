import datetime
import uuid

import pytest
from django.utils import timezone

from agreements.models import content_digest


def make_evidence(user, content: str, *, method: str = "security_token", purpose: str = "bevaka_arenden.agreement"):
    """A completed signature by ``user`` over ``content``, as the signing app stores it.

    For tests of the agreement rules; the signing flows themselves are proven against the mock BankID
    server and the OCRA token in tests/signing and in the browser walk-through.
    """
    from signing.models import SignatureEvidence, SignatureOrder

    now = timezone.now()
    order = SignatureOrder.objects.create(
        user=user,
        method=method,
        purpose=purpose,
        visible_text="test",
        content_sha256=content_digest(content),
        return_url="/",
        end_user_ip="127.0.0.1",
        nonce=uuid.uuid4().hex,
        expires_at=now + datetime.timedelta(minutes=5),
        status=SignatureOrder.Status.COMPLETE,
    )
    return SignatureEvidence.objects.create(
        order=order,
        provider="ocra",
        environment="token",
        method=method,
        order_ref=str(order.pk),
        signer_personnummer=user.personnummer,
        signer_name=user.get_full_name(),
        user_visible_data="dGVzdA==",
        user_non_visible_data="",
        content_sha256=content_digest(content),
        completion_data={},
        started_at=now,
        signed_at=now,
    )


@pytest.fixture
def evidence():
    return make_evidence


# The mock BankID server of the signing tests, reused by the browser walk-through.
from tests.signing.conftest import mock_bankid  # noqa: E402, F401
