"""WordNet for nltk's METEOR, offline.

``nltk.download`` needs a network. Debian's ``wordnet-base`` and ``wordnet-sense-index``
packages install WordNet 3.0 in ``/usr/share/wordnet``; nltk also wants a ``lexnames`` file,
which Debian lacks: it is the fixed table of the 45 lexicographer files (``lexnames(5WN)``).
:func:`load_wordnet` copies the folder into the sweetiechat cache, writes ``lexnames``, and
returns a ``WordNetCorpusReader``. An nltk WordNet already under ``$NLTK_DATA`` is used as is.
"""

from __future__ import annotations

import os
import shutil
from functools import cache
from pathlib import Path
from typing import Any

from sweetiechat.errors import ConfigError

__all__ = ["LEXNAMES", "load_wordnet", "require_wordnet"]

_NAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
#: The ``lexnames`` table: number, file name, syntactic category (1 noun ... 4 adverb).
LEXNAMES = "".join(
    f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(_NAMES)
)
DEBIAN_WORDNET = Path("/usr/share/wordnet")


def _nltk_data_wordnet() -> Path | None:
    for root in [os.environ.get("NLTK_DATA", ""), str(Path.home() / "nltk_data")]:
        folder = Path(root) / "corpora" / "wordnet"
        if root and (folder / "lexnames").is_file():
            return folder
    return None


def _missing_wordnet() -> ConfigError:
    return ConfigError(
        "METEOR needs WordNet: apt-get install wordnet-base wordnet-sense-index "
        "(or nltk.download('wordnet') where a network is available)"
    )


def require_wordnet() -> None:
    """Raise :class:`ConfigError` at once (without importing nltk) when no WordNet is found."""
    if _nltk_data_wordnet() is None and not (DEBIAN_WORDNET / "data.noun").is_file():
        raise _missing_wordnet()


@cache
def load_wordnet() -> Any:
    """A ready ``WordNetCorpusReader``, or :class:`ConfigError` saying what to install.

    The check comes before nltk is imported (seconds), so a missing WordNet fails at once."""
    folder = _nltk_data_wordnet()
    if folder is None:
        if not (DEBIAN_WORDNET / "data.noun").is_file():
            raise _missing_wordnet()
        from sweetiechat.backends.local import cache_dir

        folder = cache_dir() / "nltk_data" / "corpora" / "wordnet"
        if not (folder / "lexnames").is_file():
            tmp = folder.with_name(f"wordnet.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(DEBIAN_WORDNET, tmp)
            (tmp / "lexnames").write_text(LEXNAMES)
            folder.parent.mkdir(parents=True, exist_ok=True)
            try:
                tmp.replace(folder)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = str(folder.parents[1])  # nltk only reads corpora under its data path
    if root not in nltk.data.path:
        nltk.data.path.append(root)
    return WordNetCorpusReader(str(folder), None)
