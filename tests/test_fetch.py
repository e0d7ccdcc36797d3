"""Data sets fetched into a cache: served by an HTTP server on this machine.

The tests never reach the network (see ``conftest._no_network``): the files
are served from a temporary directory, or the reference copies in
``../shared/data``, by a server on localhost.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from sklearn_cl import _fetch, datasets
from sklearn_cl.datasets import (
    DownloadError,
    fetch_elec2,
    fetch_mnist_idx,
    fetch_weather,
    get_data_home,
    load_benchmark,
)


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def serve():
    """``serve(directory)`` starts a server of that directory on localhost
    and returns its base URL and the list of paths requested from it."""
    servers = []

    def start(directory):
        requested = []

        class Handler(_Handler):
            def do_GET(self):
                requested.append(self.path)
                super().do_GET()

        handler = functools.partial(Handler, directory=str(directory))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/", requested

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _remote(tmp_path, content: bytes, **kwargs):
    source = tmp_path / "served"
    source.mkdir(exist_ok=True)
    (source / "table.csv").write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    return source, _fetch.RemoteFile("sub/table.csv", (), digest, **kwargs)


def _served(tmp_path, serve, content):
    """A remote file with ``content`` served at a local address, and the
    list of the paths requested from it."""
    source, remote = _remote(tmp_path, content)
    url, requested = serve(source)
    return dataclasses.replace(remote, urls=(url + "table.csv",)), requested


def test_a_file_is_downloaded_verified_and_never_downloaded_again(tmp_path, serve):
    remote, requested = _served(tmp_path, serve, b"a,b\n1,2\n")
    home = tmp_path / "home"
    path = _fetch.fetch_file(remote, home)
    assert path == home / "sub" / "table.csv"
    assert path.read_bytes() == b"a,b\n1,2\n"
    assert requested == ["/table.csv"]
    assert _fetch.fetch_file(remote, home) == path
    assert requested == ["/table.csv"]  # cached: not downloaded again
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]  # no temp


def test_a_changed_cached_file_warns_and_is_read_as_it_is(tmp_path, serve):
    remote, requested = _served(tmp_path, serve, b"a,b\n1,2\n3,4\n")
    home = tmp_path / "home"
    path = _fetch.fetch_file(remote, home)
    path.write_bytes(b"a,b\n1,2\n")  # cut at a line: it would load as less data
    with pytest.warns(UserWarning, match=r"table.csv \(sha256 .*truncated or edit"):
        assert _fetch.fetch_file(remote, home, download_if_missing=False) == path
    assert path.read_bytes() == b"a,b\n1,2\n" and len(requested) == 1
    gzipped = dataclasses.replace(
        remote, name="g.gz", sha256=hashlib.sha256(b"x").hexdigest(), gzipped=True
    )
    (home / "g.gz").write_bytes(b"not gzip")
    with pytest.warns(UserWarning, match="unreadable content"):
        _fetch.fetch_file(gzipped, home)


def test_a_cache_that_cannot_be_written_says_how_to_choose_another(
    tmp_path, serve, monkeypatch
):
    remote, _ = _served(tmp_path, serve, b"a,b\n1,2\n")

    def denied(path, data):
        raise PermissionError(13, "Permission denied", str(path) + ".tmp")

    monkeypatch.setattr(_fetch, "atomic_write", denied)
    home = tmp_path / "home"
    with pytest.raises(DownloadError, match="cannot write it into .*Permission den"):
        _fetch.fetch_file(remote, home)


def test_a_checksum_mismatch_leaves_nothing_in_the_cache(tmp_path, serve):
    source, remote = _remote(tmp_path, b"a,b\n1,2\n")
    (source / "table.csv").write_bytes(b"a,b\n1,3\n")  # changed at the source
    url, _ = serve(source)
    remote = dataclasses.replace(remote, urls=(url + "table.csv",))
    home = tmp_path / "home"
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        _fetch.fetch_file(remote, home)
    assert remote.sha256 in str(info.value)
    assert not (home / "sub" / "table.csv").exists()
    assert not home.exists() or not any(home.rglob("*"))  # no temporary file


def test_the_next_mirror_serves_when_one_fails(tmp_path, serve):
    source, remote = _remote(tmp_path, b"x,y\n3,4\n")
    url, requested = serve(source)
    remote = dataclasses.replace(
        remote, urls=(_closed_port_url() + "table.csv", url + "table.csv")
    )
    path = _fetch.fetch_file(remote, tmp_path / "home")
    assert path.read_bytes() == b"x,y\n3,4\n" and requested == ["/table.csv"]


def test_gzipped_files_are_verified_on_their_content(tmp_path, serve):
    import gzip

    content = b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x03"
    source, remote = _remote(tmp_path, content, gzipped=True)
    # compressed differently than the checksum's copy: the content still matches
    (source / "table.csv").write_bytes(gzip.compress(content, compresslevel=1))
    url, _ = serve(source)
    remote = dataclasses.replace(remote, urls=(url + "table.csv",))
    path = _fetch.fetch_file(remote, tmp_path / "home")
    assert gzip.decompress(path.read_bytes()) == content
    packed = gzip.compress(content * 50)
    corrupted = packed[:12] + bytes(b ^ 0xFF for b in packed[12:24]) + packed[24:]
    for served in (content, packed[:-5], corrupted):  # not gzip, cut, corrupted
        (source / "table.csv").write_bytes(served)
        with pytest.raises(DownloadError, match="unreadable content"):
            _fetch.fetch_file(remote, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_offline_the_error_names_the_url_the_cache_and_the_way_by_hand(tmp_path):
    home = tmp_path / "home"
    with pytest.raises(DownloadError) as info:
        fetch_elec2(data_home=home)
    message = str(info.value)
    url = datasets._REMOTE["elec.csv"].urls[0]
    assert url.startswith("https://raw.githubusercontent.com/scikit-multiflow/")
    assert f"{url}: ConnectionRefusedError: tests never touch the network" in message
    assert f"download it by hand from {url} and save it as {home / 'elec.csv'}" in (
        message
    )
    assert "SKLEARN_CL_DATA" in message and not home.exists()


def test_download_if_missing_false_raises_without_downloading(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_if_missing=False"):
        fetch_weather(data_home=tmp_path, download_if_missing=False)


def test_the_data_home_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.DATA_ENV, raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "skl"))
    assert get_data_home() == tmp_path / "skl" / "sklearn_cl"
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path / "mine"))
    assert get_data_home() == tmp_path / "mine"
    assert get_data_home(tmp_path / "given") == tmp_path / "given"
    assert get_data_home("~/x") == get_data_home("~/x").expanduser()


@pytest.fixture
def served_reference(shared_data, serve, monkeypatch):
    """The real remote files, their URLs pointed at the reference copies."""
    url, requested = serve(shared_data)
    for key, remote in datasets._REMOTE.items():
        monkeypatch.setitem(
            datasets._REMOTE,
            key,
            dataclasses.replace(remote, urls=(url + remote.name,)),
        )
    return requested


def test_the_reference_copies_pass_the_real_checksums(
    served_reference, shared_data, tmp_path
):
    home = tmp_path / "home"
    X, y = fetch_elec2(data_home=home)
    assert X.shape == (45312, 6) and np.bincount(y).tolist() == [26075, 19237]
    assert (home / "elec.csv").read_bytes() == (shared_data / "elec.csv").read_bytes()
    X, y = fetch_weather(data_home=home)
    assert X.shape == (18159, 8)
    # re-gzipped copies: verified on the decompressed content
    X, y = fetch_mnist_idx(data_home=home)
    assert X.shape == (10000, 784) and y[:5].tolist() == [7, 2, 1, 0, 4]
    assert sorted(served_reference) == [
        "/elec.csv",
        "/mnist-t10k/t10k-images-idx3-ubyte.gz",
        "/mnist-t10k/t10k-labels-idx1-ubyte.gz",
        "/weather.csv",
    ]
    # the benchmarks read the cache: nothing more is downloaded
    assert len(load_benchmark("split-mnist", data_home=home)) == 5
    assert len(load_benchmark("elec2", data_home=home, n_periods=3)) == 3
    assert len(served_reference) == 4
