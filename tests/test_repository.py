"""Repository hygiene: no large file is tracked outside artifacts/ and docs/ (a 46 MB
FerretDB binary once was)."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1024 * 1024
ALLOWED = ("artifacts/", "docs/")


def tracked_files():
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    return [name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_over_1_mb_outside_artifacts_and_docs():
    files = tracked_files()
    assert "README.md" in files  # the listing worked
    large = [(name, (ROOT / name).stat().st_size) for name in files
             if not name.startswith(ALLOWED) and (ROOT / name).is_file()
             and (ROOT / name).stat().st_size > LIMIT]
    assert large == [], f"tracked files over 1 MB: {large}"
