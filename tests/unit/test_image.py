"""The PBX image build reads the mirror from apt's sources and tracks its package list."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.errors import SetupError
from hotline.pbx.image import debian_mirror, packages_hash, read_packages


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    (d / "other.list").write_text("deb https://apt.example/node nodistro main\n")
    assert debian_mirror((tmp_path / "sources.list", d)) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    path = tmp_path / "sources.list"
    path.write_text("# comment\ndeb [arch=amd64] http://ftp.example.org/debian bookworm main\n")
    assert debian_mirror((path,)) == "http://ftp.example.org/debian"


def test_no_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="no Debian mirror found"):
        debian_mirror((tmp_path / "absent",))


def test_package_list_hash_ignores_comments_and_order(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("# image\nasterisk\nasterisk-moh-opsound-wav\n")
    b = tmp_path / "b.txt"
    b.write_text("asterisk-moh-opsound-wav\n\nasterisk\n")
    assert read_packages(a) == ["asterisk", "asterisk-moh-opsound-wav"]
    assert packages_hash(read_packages(a)) == packages_hash(read_packages(b))
    assert packages_hash(["asterisk"]) != packages_hash(read_packages(a))


def test_shipped_package_list_includes_asterisk() -> None:
    root = Path(__file__).resolve().parents[2]
    assert "asterisk" in read_packages(root / "asterisk-conf" / "packages.txt")
