import pytest

from harness import Spare, commands, start_process

# One mock BankID started ahead per clock speed: each test still gets a fresh server of its own (orders
# are the mock's state), without waiting a second or more for it to start.
_SPARES: dict[float, Spare] = {}


def _mock_env() -> dict[str, str]:
    import os

    return {**os.environ, "BANKID_PRODUCTION": "false"}


def _start_mock(request, settings, time_factor: float = 1.0):
    """A fresh mock BankID server on a free port, stopped after the test; the app's settings point at it."""
    if time_factor not in _SPARES:
        _SPARES[time_factor] = Spare(
            lambda: start_process(
                commands.mock_bankid(time_factor=time_factor),
                env=_mock_env(),
                ready=commands.MOCK_BANKID_READY,
                wait=False,
            )
        )
        request.config.add_cleanup(lambda: _SPARES.pop(time_factor).close())
    process = _SPARES[time_factor].take()
    request.addfinalizer(process.stop)
    _point_at(settings, process.url)
    return process


@pytest.fixture
def mock_bankid(request, settings):
    """The mock BankID server as a real process on a free port; the app's settings point at it."""
    return _start_mock(request, settings)


@pytest.fixture
def fast_mock_bankid(request, settings):
    """The mock with its clock 60 times faster: the 30 s pick-up window is 0.5 s, 3 minutes are 3 s."""
    return _start_mock(request, settings, time_factor=60)


def _point_at(settings, url: str) -> None:
    settings.BANKID_API_URL = f"{url}/rp/v6.0/"
    settings.BANKID_PRODUCTION = False
    settings.BANKID_APP_URL = f"{url}/app/"


@pytest.fixture(autouse=True)
def _swedish():
    """Each test starts in Swedish, whatever language an earlier request left active in this thread."""
    from django.utils import translation

    with translation.override("sv"):
        yield
