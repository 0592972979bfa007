"""Fetch the chart library of the /ui/ pages from the npm registry, check it against the
pinned sha512 (the registry's `integrity`), and keep its browser build in
service/ui/static/vendor/, so that the pages load it from the API itself: no CDN at run
time. Run by `make` (and the Dockerfile) before the API starts; stdlib only."""
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

PACKAGE = "chart.js"
VERSION = "4.6.1"
TARBALL = f"https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"
INTEGRITY = ("sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3"
             "HneSANFNYtRi61g==")
FILES = {"package/dist/chart.umd.min.js": "chart.umd.min.js",
         "package/LICENSE.md": "chart.js.LICENSE.md"}
TARGET = Path(__file__).resolve().parent.parent / "service" / "ui" / "static" / "vendor"


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def main() -> int:
    if all((TARGET / name).exists() for name in FILES.values()):
        return 0
    with urllib.request.urlopen(TARBALL, timeout=60) as response:
        data = response.read()
    if integrity_of(data) != INTEGRITY:
        print(f"{TARBALL}: integrity mismatch, not installed", file=sys.stderr)
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member, name in FILES.items():
            (TARGET / name).write_bytes(archive.extractfile(member).read())
    print(f"installed {PACKAGE} {VERSION} into {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
