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


def test_the_image_holds_every_package_the_processes_import():
    """The Dockerfile copies each top-level package that the API and the workers run."""
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ")}
    for package in ("core", "service", "jobs", "cli", "artifacts"):
        assert package in copied, f"the Dockerfile does not COPY {package}"
