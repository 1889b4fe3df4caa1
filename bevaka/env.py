"""Reading settings from the environment, secrets from files too.

Every setting NAME may instead be given as NAME_FILE, the path of a file holding the value: Docker's and
Kubernetes' secrets (/run/secrets/…), so that no secret sits in an environment that `docker inspect`,
/proc/<pid>/environ or a crash report shows. NAME_FILE wins over NAME; one trailing newline of the file
(`echo value > file`) is not part of the value. django-environ's FileAwareMapping does the reading.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
# Where the embedded defaults keep their files (the SQLite database, the filesystem broker, development keys).
VAR_DIR = Path(environ.Env().str("BEVAKA_VAR_DIR", default=str(BASE_DIR / "var")))


class _SecretFiles(environ.FileAwareMapping):
    def __getitem__(self, key: str) -> str:
        value = super().__getitem__(key)
        return value.removesuffix("\n").removesuffix("\r") if self.env.get(key + "_FILE") else value


def settings_env() -> environ.Env:
    """An ``environ.Env`` that reads NAME_FILE before NAME."""
    env = environ.Env()
    env.ENVIRON = _SecretFiles()
    return env
