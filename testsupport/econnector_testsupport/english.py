"""A heuristic for English left in French and German texts (messages, receipts, the CLI).

Shared by the catalog's own tests (tests/contract/test_i18n.py) and the tests that read
what ``econnector status`` prints in each language (tests/e2e/test_cli.py).
"""

from __future__ import annotations

import re

# Words that are English and never French or German (whole words, any case).
ENGLISH = re.compile(
    r"\b(the|is|are|and|with|without|file|files|folder|please|drop|dropped|must|cannot|"
    r"were|been|has|have|this|which|from|your|should|again|only|not|send|sent|"
    r"signed|could|waits|missing|invalid|refused|error|check|fix|rename)\b",
    re.I,
)
# Product and code words that stay as they are in every language.
ALLOWED = re.compile(
    r"econnector|check-config|outbox|inbox|failed/|schema: econnector\.document/v1|"
    r"vault\.url|vault\.ca_bundle|sick-leave-certificate|invoice|prescription|"
    r"certificate|YAML 1\.1|true|false|x-|\{[a-z_]+\}",
)


def english_words(text: str) -> list[str]:
    """The English words in ``text`` once the product and code words are taken out."""
    return ENGLISH.findall(ALLOWED.sub(" ", text))
