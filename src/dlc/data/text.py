"""Text corpora: Tiny Shakespeare (a string) and English-French sentence pairs.

Both live in ``<root>/text/`` in the offline data folder. Tiny Shakespeare can be
downloaded (checksummed); the Tatoeba pairs are distributed only as changing zip
exports, so they are found in place or copied by hand.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from dlc.data import debris, download, locate
from dlc.data.download import Resource
from dlc.errors import DataError


@dataclass
class TextFile:
    """One text file that may sit at several places under a data root."""

    name: str
    title: str
    relpaths: tuple[str, ...]  # tried in each root, in order
    downloads: list[Resource] = field(default_factory=list)
    download_relpath: str = ""
    kind: str = "text"

    def find(self, data_dir=None) -> tuple[Path | None, list[Path]]:
        searched = []
        for root in locate.roots(data_dir):
            for rel in self.relpaths:
                p = root / rel
                searched.append(p)
                if p.is_file():
                    return p, searched
        return None, searched

    @property
    def can_download(self) -> bool:
        return bool(self.downloads)

    def missing_error(self, searched: list[Path], data_dir=None) -> DataError:
        where = "\n".join(f"    {p}" for p in searched)
        fetch = (
            f"`dlc data fetch {self.name}` (downloads into "
            f"{locate.download_root(data_dir) / self.download_relpath}), or download=True"
            if self.can_download
            else "copy the file by hand (it has no checksummed download)"
        )
        return DataError(
            f"{self.title} not found.\n  searched:\n{where}\n  to get it: {fetch}; or point dlc "
            "at a folder that holds it with --data_dir DIR (Python: data_dir=DIR) or the "
            "environment variable PYTORCH_DATA_DIR=DIR"
        )

    def path(self, data_dir=None, download_missing: bool = False, quiet: bool = True) -> Path:
        p, searched = self.find(data_dir)
        if p is None:
            if not download_missing:
                raise self.missing_error(searched, data_dir)
            p = self.fetch(data_dir, quiet=quiet)
        return p

    def fetch(self, data_dir=None, quiet: bool = False) -> Path:
        if not self.downloads:
            raise self.missing_error(self.find(data_dir)[1], data_dir)
        target = locate.download_root(data_dir) / self.download_relpath
        res = self.downloads[0]
        with debris.new_folders_removed_on_error(target.parent):
            got = download.download(res, target.parent, quiet=quiet)
            if got != target:
                got.replace(target)
        return target


def read_text(path: Path) -> str:
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}): wrong or corrupt file") from e
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e}): corrupt or truncated; delete it and fetch it again") from e


@dataclass
class Shakespeare(TextFile):
    def load(self, train=True, data_dir=None, download: bool = False, quiet: bool = True) -> str:
        """The whole corpus as one string (``train`` is ignored: split it yourself)."""
        p = self.path(data_dir, download, quiet)
        text = read_text(p)
        if not text.strip():
            raise DataError(f"{p}: the file is empty")
        return text


def parse_pairs(text: str, path: Path | str = "<text>") -> list[tuple[str, str]]:
    """``English<TAB>French[<TAB>attribution]`` lines -> [(english, french), ...]."""
    pairs = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            raise DataError(f"{path}, line {i}: expected 'English<TAB>French', got {line[:60]!r}")
        pairs.append((fields[0].strip(), fields[1].strip()))
    if not pairs:
        raise DataError(f"{path}: no sentence pairs in the file")
    return pairs


@dataclass
class SentencePairs(TextFile):
    full: TextFile | None = None

    def load(
        self, train=True, data_dir=None, download: bool = False, quiet: bool = True, full: bool = False
    ) -> list[tuple[str, str]]:
        """(english, french) pairs: the 5,000 shortest by default, all 142,787 with ``full=True``."""
        src = self.full if full and self.full is not None else self
        p = src.path(data_dir, False, quiet)
        return parse_pairs(read_text(p), p)


TINYSHAKESPEARE = Shakespeare(
    name="tinyshakespeare",
    title="Tiny Shakespeare",
    relpaths=("text/tinyshakespeare.txt", "tinyshakespeare/input.txt", "tinyshakespeare.txt"),
    downloads=[
        Resource(
            "tinyshakespeare.txt",
            "6fb458f1232090904fb40fe944165e91",
            ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
        )
    ],
    download_relpath="text/tinyshakespeare.txt",
)

ENG_FRA = SentencePairs(
    name="eng-fra",
    title="English-French sentence pairs (5k)",
    relpaths=("text/eng-fra-5k.txt", "eng-fra-5k.txt"),
    full=TextFile(
        name="eng-fra",
        title="English-French sentence pairs (full, Tatoeba 2017)",
        relpaths=("text/eng-fra-tatoeba-2017.txt.gz", "eng-fra-tatoeba-2017.txt.gz", "text/eng-fra.txt", "eng-fra.txt"),
    ),
)
