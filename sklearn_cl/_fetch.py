"""Download public data sets once into a local cache, as scikit-learn's
``fetch_*`` functions do.

A :class:`RemoteFile` names a file of the cache, the URLs that serve it (the
canonical source first, then mirrors) and the sha256 of its content.
:func:`fetch_file` returns the cached file, and on first use downloads it:
the bytes are read into memory (the files are a few MB), their checksum is
verified, and only then are they written atomically into the cache, so an
interrupted or corrupted download never leaves a file there. A cached file
is never downloaded again and is read as it is (a directory of copies made
by hand *is* a data home), but it is verified each time it is fetched (2 ms
for Elec2, 35 ms for the gzipped MNIST test images): a file truncated or
edited in the cache warns, rather than loading as a smaller or different
data set without a word. Two
processes downloading the same file at once each write a complete, verified
copy; the last one stays.

scikit-learn's own helper (``sklearn.datasets._base._fetch_remote`` with
``RemoteFileMetadata``) is private, takes one URL per file and verifies the
downloaded bytes only; the MNIST copies in circulation are re-gzipped, so
they are verified on their decompressed content. Hence this small module;
the cache location is scikit-learn's public ``get_data_home``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

from sklearn.datasets import get_data_home as sklearn_data_home

from ._atomic import atomic_write

__all__ = ["DATA_ENV", "DownloadError", "RemoteFile", "fetch_file", "get_data_home"]

#: Environment variable naming the data directory (the cache).
DATA_ENV = "SKLEARN_CL_DATA"
_TIMEOUT = 60  # seconds without an answer before a mirror counts as unreachable


class DownloadError(OSError):
    """A data set could not be downloaded, or its content was not the expected
    one; nothing was written to the cache."""


@dataclass(frozen=True)
class RemoteFile:
    """A file of the cache and where to download it.

    Parameters
    ----------
    name : str
        Path of the file inside the data home (``"elec.csv"``,
        ``"mnist-t10k/t10k-labels-idx1-ubyte.gz"``).
    urls : tuple of str
        Tried in order until one serves the expected content.
    sha256 : str
        Hex digest of the file's content: of its bytes, or of its
        decompressed bytes when ``gzipped`` is True.
    gzipped : bool, default=False
        Verify the decompressed content (the file stays compressed).
    """

    name: str
    urls: tuple[str, ...]
    sha256: str
    gzipped: bool = False

    def digest(self, data: bytes) -> str:
        """The sha256 of ``data``'s content, as ``sha256`` is defined."""
        return hashlib.sha256(
            gzip.decompress(data) if self.gzipped else data
        ).hexdigest()


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The directory that caches the downloaded data sets.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The directory itself. ``None`` uses the environment variable
        ``SKLEARN_CL_DATA`` when it is set, else ``sklearn_cl`` inside
        scikit-learn's data home (:func:`sklearn.datasets.get_data_home`:
        ``$SCIKIT_LEARN_DATA`` or ``~/scikit_learn_data``).

    Returns
    -------
    Path
        The directory; it is created only when a file is downloaded.

    Examples
    --------
    >>> from sklearn_cl.datasets import get_data_home
    >>> str(get_data_home("/srv/data"))
    '/srv/data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV) or Path(sklearn_data_home()) / "sklearn_cl"
    return Path(data_home).expanduser()


def _warn_if_changed(remote: RemoteFile, path: Path) -> None:
    """Warn when the cached ``path`` is not the published file."""
    try:
        digest = remote.digest(path.read_bytes())
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        found = f"unreadable content: {error}"
    else:
        if digest == remote.sha256:
            return
        found = f"sha256 {digest}, expected {remote.sha256}"
    warnings.warn(
        f"{path} is not the published {remote.name} ({found}): truncated or "
        "edited? It is read as it is; delete it to download the published file "
        "again.",
        UserWarning,
        stacklevel=3,
    )


def _read_url(url: str) -> bytes:
    """The bytes served at ``url``: the only function that reaches the network."""
    with urlopen(url, timeout=_TIMEOUT) as response:
        return response.read()


def fetch_file(
    remote: RemoteFile,
    data_home: str | os.PathLike | None = None,
    *,
    download_if_missing: bool = True,
) -> Path:
    """The path of ``remote`` in the cache, downloaded and verified on first use.

    Raises
    ------
    FileNotFoundError
        When the file is not cached and ``download_if_missing`` is False.
    DownloadError
        When no URL served the expected content (offline, a server error,
        a checksum mismatch); the message says how to place the file by hand.
    """
    path = get_data_home(data_home) / remote.name
    if path.is_file():
        _warn_if_changed(remote, path)
        return path
    by_hand = (
        f"download it by hand from {remote.urls[0]} and save it as {path} (or set "
        f"{DATA_ENV} to a directory that holds {remote.name}, or pass the local "
        "file as path=)"
    )
    if not download_if_missing:
        raise FileNotFoundError(
            f"{remote.name} is not in the data home {path.parent} and "
            f"download_if_missing=False. Pass download_if_missing=True, or {by_hand}."
        )
    failures = []
    for url in remote.urls:
        try:
            data = _read_url(url)
        except OSError as error:  # URLError, HTTPError and timeouts are OSErrors
            failures.append(f"{url}: {type(error).__name__}: {error}")
            continue
        try:
            digest = remote.digest(data)
        except (OSError, EOFError, zlib.error) as error:  # not (whole) gzip data
            failures.append(f"{url}: unreadable content ({error})")
            continue
        if digest != remote.sha256:
            failures.append(
                f"{url}: checksum mismatch, the content has sha256 {digest}, "
                f"expected {remote.sha256}"
            )
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return atomic_write(path, data)
        except OSError as error:
            raise DownloadError(
                f"Downloaded {remote.name} but cannot write it into {path.parent}: "
                f"{error.strerror or error}. Set {DATA_ENV} to a directory you "
                "can write, or pass data_home=."
            ) from error
    raise DownloadError(
        f"Could not download {remote.name} into {path}; nothing was written. "
        + "; ".join(failures)
        + f". Without network access, {by_hand}."
    )
