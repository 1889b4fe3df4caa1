"""Django's makemessages, tuned for catalogues that several branches touch.

- No fuzzy matching: msgmerge's guesses ("Säkerhetsdosorna är upplåsta." would get the translation of
  "Säkerhetsdosa") are marked fuzzy, which Django ignores at run time and our catalogue test refuses; a new
  string should simply arrive untranslated, so whoever runs `make messages` sees exactly what to translate.
- No POT-Creation-Date: it changes on every run and would make every branch conflict on the header line.
"""

import re
from pathlib import Path

from django.core.management.commands import makemessages

_CREATION_DATE = re.compile(r'^"POT-Creation-Date: [^"]*"\n', re.MULTILINE)


class Command(makemessages.Command):
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]

    def write_po_file(self, potfile, locale):
        super().write_po_file(potfile, locale)
        basedir = Path(potfile).parent / locale / "LC_MESSAGES"
        pofile = basedir / f"{self.domain}.po"
        if pofile.exists():
            pofile.write_text(_CREATION_DATE.sub("", pofile.read_text(encoding="utf-8")), encoding="utf-8")
