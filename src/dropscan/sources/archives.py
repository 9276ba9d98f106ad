"""Log archives, opened as lnav opens them: a ``.tar`` (plain, gzip, bzip2 or xz) or a ``.zip``
of logs is read member by member, each member named ``archive!/member/path`` (the name in
``log_file`` and in the summary). Archives are recognised by their bytes, never by name: a zip
by its signature, a tar by the ``ustar`` magic of its first header once decompressed.

Members are opened by name, one at a time, as binary streams; the caller decompresses them
(``access.log.2.gz`` inside a tar) like any file. Only regular files are members; links and
devices inside an archive are never followed.
"""

from __future__ import annotations

import tarfile
import zipfile
from typing import BinaryIO

SEP = "!"
_TAR_MAGIC = (257, 262, b"ustar")


def split(path: str) -> tuple[str, str] | None:
    """``logs.tgz!/web1/access.log`` -> (``logs.tgz``, ``web1/access.log``); None for a plain path."""
    archive, sep, member = path.partition(SEP + "/")
    return (archive, member) if sep and member else None


def kind(path: str, head: bytes) -> str | None:
    """``zip`` or ``tar`` when ``head`` (the file's first bytes, decompressed) starts an archive."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")) and zipfile.is_zipfile(path):
        return "zip"
    a, b, magic = _TAR_MAGIC
    if head[a:b] == magic:
        return "tar"
    return None


def members(path: str, which: str) -> list[str]:
    """Regular files inside the archive, in archive order."""
    if which == "zip":
        with zipfile.ZipFile(path) as z:
            return [i.filename for i in z.infolist() if not i.is_dir()]
    with tarfile.open(path, "r:*") as t:
        return [m.name for m in t.getmembers() if m.isreg()]


def open_member(path: str) -> BinaryIO:
    """A binary stream of ``archive!/member`` (OSError when it is not there)."""
    parts = split(path)
    if parts is None:
        raise FileNotFoundError(path)
    archive, member = parts
    try:
        if zipfile.is_zipfile(archive):
            z = zipfile.ZipFile(archive)
            return z.open(member)
        t = tarfile.open(archive, "r:*")
        f = t.extractfile(member)
    except (KeyError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise FileNotFoundError(f"{member} in {archive}: {e}") from None
    if f is None:
        raise FileNotFoundError(f"{member} in {archive}: not a regular file")
    return f
