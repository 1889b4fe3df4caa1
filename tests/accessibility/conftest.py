# The mock BankID server of the signing tests, for the pages that wait for BankID.
from tests.signing.conftest import mock_bankid  # noqa: F401
