import ipaddress
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_cl import _fetch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data sets next to the repository (``../shared/data``),
    in the layout of the data home; the test skips when they are absent."""
    if not (SHARED_DATA / "elec.csv").is_file():
        pytest.skip(f"the reference data sets are not in {SHARED_DATA}")
    return SHARED_DATA


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests never touch the network: downloads may reach this machine only
    (the tests' own HTTP servers)."""

    def read_local_url(url):
        if not _is_loopback(urlsplit(url).hostname or ""):
            raise ConnectionRefusedError(f"tests never touch the network ({url})")
        with urlopen(url, timeout=10) as response:
            return response.read()

    monkeypatch.setattr(_fetch, "_read_url", read_local_url)
