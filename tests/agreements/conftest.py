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


def start_connect_signature(company, signer, codes, method):
    """``signer`` proposes connecting ``company`` with these case types and starts signing it with ``method``:
    (the signing order, the proposal), as the service page does."""
    from agreements import services
    from signing.services import start_signature

    proposal = services.propose_connect(company=company, signer=signer, case_type_codes=codes)
    order = start_signature(
        user=signer,
        method=method,
        purpose=services.SIGNING_PURPOSE,
        visible_text=proposal.visible_text(),
        canonical_content=proposal.content,
        object_ref=f"company:{company.pk}",
        return_url="http://testserver/",
        end_user_ip="192.0.2.10",
    )
    return order, proposal


def answer_with_token(order, signer):
    """Answer a security-token order with the response ``signer``'s säkerhetsdosa computes."""
    from signing.ocra import OcraSuite
    from signing.services import answer_token_challenge
    from signing.tokens import token_secret

    response = OcraSuite.parse(order.token.suite).compute(token_secret(order.token), order.challenge)
    return answer_token_challenge(order_id=order.pk, user=signer, response=response)


def token_signed_connect(company, signer, codes):
    """Connect ``company`` signed for real with ``signer``'s security token (OCRA, no server needed): evidence
    that ``verify_evidence`` accepts, unlike ``make_evidence``'s."""
    from agreements import services

    order, proposal = start_connect_signature(company, signer, codes, "security_token")
    answer_with_token(order, signer)
    return services.complete_signed_proposal(proposal=proposal, order_id=str(order.pk), signer=signer).version


@pytest.fixture
def evidence():
    return make_evidence


# The mock BankID server of the signing tests, reused by the browser walk-through.
from tests.signing.conftest import mock_bankid  # noqa: E402, F401
