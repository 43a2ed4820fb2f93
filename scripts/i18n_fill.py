"""Fill untranslated catalog entries from a TSV (msgid, ru, kk) on stdin, then compile.

Usage: .venv/bin/python scripts/i18n_fill.py < new-strings.tsv
"""

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Apply the translations; print what is still missing."""
    table = {}
    for line in sys.stdin:
        if line.strip():
            msgid, ru, kk = line.rstrip("\n").split("\t")
            table[msgid] = {"ru": ru, "kk": kk}
    missing = 0
    for lang in ("ru", "kk"):
        po_path = ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po"
        with open(po_path, "rb") as f:
            catalog = read_po(f)
        catalog.fuzzy = False
        for message in catalog:
            if message.id and not message.string and message.id in table:
                message.string = table[message.id][lang]
            if message.id and not message.string:
                missing += 1
                print(f"{lang}: untranslated: {message.id!r}")
        with open(po_path, "wb") as f:
            write_po(f, catalog, width=120, sort_output=True)
        with open(po_path.with_suffix(".mo"), "wb") as f:
            write_mo(f, catalog)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
