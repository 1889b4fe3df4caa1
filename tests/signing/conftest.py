import pytest

from harness import commands


def _start_mock(project_process, time_factor: float = 1.0):
    return project_process(
        commands.mock_bankid(time_factor=time_factor), env=_mock_env(), ready=commands.MOCK_BANKID_READY
    )


def _mock_env() -> dict[str, str]:
    import os

    return {**os.environ, "BANKID_PRODUCTION": "false"}


@pytest.fixture
def mock_bankid(project_process, settings):
    """The mock BankID server as a real process on a free port; the app's settings point at it."""
    process = _start_mock(project_process)
    _point_at(settings, process.url)
    return process


@pytest.fixture
def fast_mock_bankid(project_process, settings):
    """The mock with its clock 60 times faster: the 30 s pick-up window is 0.5 s, 3 minutes are 3 s."""
    process = _start_mock(project_process, time_factor=60)
    _point_at(settings, process.url)
    return process


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
