"""Build the PBX image from Debian sid packages with mmdebstrap (no registry needed).

Debian 12 has no Asterisk package and sid's cannot be installed on it, so we build a sid
root file system and import it into podman. The image carries a label with a hash of the
package list: it is rebuilt only when absent or when asterisk-conf/packages.txt changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from hotline.errors import SetupError
from hotline.pbx.podman import Podman

LABEL = "hotline.packages"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def read_packages(packages_file: Path) -> list[str]:
    lines = packages_file.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def packages_hash(packages: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:16]


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The Debian archive URI the host's apt already uses (not a hard-coded host)."""
    files: list[Path] = []
    for src in sources:
        if src.is_dir():
            files += sorted(p for p in src.iterdir() if p.suffix in (".list", ".sources"))
        elif src.is_file():
            files.append(src)
    for path in files:
        for uri in _uris(path.read_text(encoding="utf-8", errors="replace")):
            if re.search(r"/debian/?$", uri) and "security" not in uri:
                return uri.rstrip("/")
    raise SetupError(
        "no Debian mirror found in /etc/apt/sources.list*: the PBX image is built from "
        "Debian packages, so apt must be configured with a Debian archive"
    )


def _uris(text: str) -> list[str]:
    uris = re.findall(r"^\s*URIs:\s*(\S+)", text, flags=re.M)  # deb822 .sources
    uris += re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, flags=re.M)  # one-line
    return uris


async def ensure_image(
    podman: Podman,
    image: str,
    packages_file: Path,
    say: Callable[[str], None],
    environ: Mapping[str, str],
) -> bool:
    """Build the image if absent or stale. Returns True when it was (re)built."""
    packages = read_packages(packages_file)
    wanted = packages_hash(packages)
    have = await podman.image_label(image, LABEL)
    if have == wanted:
        say(f"PBX image {image}: present (packages {wanted})")
        return False
    why = "absent" if have is None else "package list changed"
    say(f"PBX image {image}: {why}, building from Debian sid (about a minute)")
    await _build(podman, image, packages, wanted, say, environ)
    return True


async def _build(
    podman: Podman,
    image: str,
    packages: list[str],
    tag: str,
    say: Callable[[str], None],
    environ: Mapping[str, str],
) -> None:
    exe = shutil.which("mmdebstrap", path=environ.get("PATH"))
    if exe is None:
        raise SetupError(
            "mmdebstrap is not installed: run 'make run' as root, or 'apt-get install mmdebstrap'."
        )
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="hotline-image-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        say(f"  mmdebstrap sid from {mirror}: {', '.join(packages)}")
        proc = await asyncio.create_subprocess_exec(
            exe,
            "--variant=minbase",
            "--quiet",
            '--aptopt=Acquire::Check-Valid-Until "false"',  # the mirror may be a snapshot
            f"--include={','.join(packages)}",
            "sid",
            str(tarball),
            f"deb {mirror} sid main",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            tail = "\n".join(out.decode(errors="replace").splitlines()[-15:])
            raise SetupError(f"building the PBX root file system failed:\n{tail}")
        say("  importing into podman")
        await podman.run(
            "import",
            "--change",
            f"LABEL {LABEL}={tag}",
            "--change",
            'CMD ["asterisk", "-f", "-U", "root"]',
            str(tarball),
            image,
        )
    say(f"PBX image {image}: built")
