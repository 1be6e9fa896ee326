"""Download the four Fashion-MNIST files from torchvision's mirror with the standard library only.

Run by path, before any requirement is installed (``tools/provide_fashion_mnist.sh`` calls it)::

    python3 tools/toy_world/download_raw.py DEST [--mirror URL]

``DEST`` is normally ``<data root>/FashionMNIST/raw``, the folder torchvision downloads into, which
:mod:`tools.toy_world.source` reads. Each file is fetched to a temporary name, its gzip-compressed IDX header
checked (magic number and dimensions), then renamed into place. One line on stderr and exit status 1 when the
mirror cannot be reached or serves something else.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import urllib.request

if __package__ in (None, ""):  # run by path: make the repository importable (dassl.atomic_io is stdlib-only)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from dassl.atomic_io import atomic_path  # noqa: E402

# torchvision's mirror for FashionMNIST.
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# file -> (IDX magic number, dimensions)
FILES = {
    "train-images-idx3-ubyte.gz": (0x00000803, (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz": (0x00000801, (60000,)),
    "t10k-images-idx3-ubyte.gz": (0x00000803, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": (0x00000801, (10000,)),
}
TIMEOUT_S = 30


def check_header(path: str, magic: int, dims: tuple[int, ...]) -> None:
    """Raise ValueError unless ``path`` is a gzip file starting with the IDX header ``magic`` + ``dims``."""
    size = 4 + 4 * len(dims)
    try:
        with gzip.open(path, "rb") as f:
            header = f.read(size)
    except (OSError, EOFError) as e:
        raise ValueError(f"not a gzip file ({e})") from e
    expected = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    if header != expected:
        raise ValueError(f"IDX header {header.hex()}, expected {expected.hex()} (magic {magic:#010x}, "
                         f"dimensions {dims})")


def fetch(url: str, dest: str, magic: int, dims: tuple[int, ...]) -> None:
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        check_header(tmp, magic, dims)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dest", help="folder for the four files (created if missing)")
    parser.add_argument("--mirror", default=MIRROR, help=f"base URL (default: torchvision's, {MIRROR})")
    args = parser.parse_args(argv)
    mirror = args.mirror if args.mirror.endswith("/") else args.mirror + "/"
    os.makedirs(args.dest, exist_ok=True)
    for name, (magic, dims) in FILES.items():
        dest = os.path.join(args.dest, name)
        if os.path.isfile(dest):
            continue
        try:
            fetch(mirror + name, dest, magic, dims)
        except (OSError, ValueError) as e:  # URLError and timeouts are OSErrors
            print(f"download of {mirror + name} failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
