"""The FerretDB patch series (tools/ferretdb/patches/) and its tests stay in step, read
from the files alone (no server): the patches are numbered 0001, 0002, ... without a
gap; each header says which patch it follows, whether it is a fix or a speed-up, and
names its tests as `tests/<file>.py::<test>`, each of which exists; each test named
test_patch_NNNN_... belongs to a patch NNNN whose header names it; fixes come first,
and each names a test that compares the server's answers with mongomock's. The series
takes no more speed-ups (production runs MongoDB): only wrong answers and hangs are
patched from now on."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PATCHES = ROOT / "tools" / "ferretdb" / "patches"
TEST_REFERENCE = re.compile(r"\b(tests/[\w/]+\.py)::(test_\w+)")
PATCH_TEST = re.compile(r"^test_patch_(\d{4})_")
KIND = re.compile(r"^Kind: (fix|speed-up)\b", re.MULTILINE)

# The speed-ups the series holds, and the last: a new patch is a fix of a wrong answer
# or a hang, or it does not go in (docs/ferretdb.md).
SPEED_UPS = [
    "0005-id-lookups-use-the-id-index", "0006-filters-narrowed-in-sql", "0007-sorts-in-sql",
    "0008-counts-in-sql", "0009-update-many-in-one-transaction",
    "0010-updates-by-distinct-ids-written-together", "0011-updates-of-100-documents-per-statement",
    "0012-updates-by-distinct-ids-read-by-one-query", "0013-iterator-profile-in-debug-builds-only",
    "0014-sjson-decode-without-copies", "0015-write-transactions-take-turns-small-first",
    "0016-update-all-in-transactions-of-100", "0017-documents-stored-as-jsonb",
]


def series():
    """[(number, name, header)] in application order (build.sh's order: by file name)."""
    patches = []
    for path in sorted(PATCHES.glob("*.patch")):
        match = re.fullmatch(r"(\d{4})-([a-z0-9-]+)\.patch", path.name)
        assert match, f"{path.name}: not NNNN-name.patch"
        text = path.read_text()
        assert "\ndiff --git " in text, f"{path.name}: no diff"
        patches.append((match[1], path.stem, text.split("\ndiff --git ", 1)[0]))
    return patches


def defined_tests():
    """{(path, name): (function node, module tree)} of every test module under tests/."""
    functions = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        module = ast.parse(path.read_text())
        for node in module.body:
            if isinstance(node, ast.FunctionDef):
                functions[(path.relative_to(ROOT).as_posix(), node.name)] = (node, module)
    return functions


def compares_with_mongomock(node, module):
    """The test, or a function or fixture of its module that it calls or takes, uses
    mongomock."""
    if "mongomock" in ast.unparse(node):
        return True
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    used |= {a.arg for a in node.args.args}
    return any(isinstance(other, ast.FunctionDef) and other.name in used
               and "mongomock" in ast.unparse(other) for other in module.body)


def test_the_patches_are_numbered_from_0001_without_a_gap():
    numbers = [number for number, _, _ in series()]
    assert numbers, "no patch found"
    assert numbers == [f"{n:04d}" for n in range(1, len(numbers) + 1)]


def test_each_header_says_which_patch_it_follows():
    for number, name, header in series():
        if number == "0001":
            continue
        after = re.search(r"build\.sh\s+after\s+(\d{4})", header)
        assert after and int(after[1]) == int(number) - 1, f"{name}: 'applied ... after'"


def test_each_header_names_tests_that_exist():
    functions = defined_tests()
    for _, name, header in series():
        references = TEST_REFERENCE.findall(header)
        assert references, f"{name} names no test as tests/<file>.py::<test>"
        for path, test in references:
            assert (path, test) in functions, f"{name} names {path}::{test}, which does not exist"


def test_each_test_named_for_a_patch_is_named_by_that_patch():
    headers = {number: (name, header) for number, name, header in series()}
    for (path, test), _ in defined_tests().items():
        match = PATCH_TEST.match(test)
        if not match:
            continue
        assert match[1] in headers, f"{path}::{test} names patch {match[1]}, which is not in the series"
        name, header = headers[match[1]]
        assert (path, test) in TEST_REFERENCE.findall(header), f"{name} does not name {path}::{test}"


def test_fixes_come_first_and_each_is_compared_with_mongomock():
    functions = defined_tests()
    kinds = []
    for _, name, header in series():
        kind = KIND.findall(header)
        assert len(kind) == 1, f"{name}: one 'Kind: fix' or 'Kind: speed-up' line"
        kinds.append(kind[0])
        if kind[0] == "fix":
            assert any(compares_with_mongomock(*functions[reference])
                       for reference in TEST_REFERENCE.findall(header)), \
                f"{name} fixes an answer but names no test comparing it with mongomock's"
    assert kinds == sorted(kinds, key=lambda kind: kind != "fix"), "a fix after a speed-up"


def test_the_series_takes_no_more_speed_ups():
    speed_ups = [name for _, name, header in series() if KIND.findall(header) == ["speed-up"]]
    assert speed_ups == SPEED_UPS, "production runs MongoDB: patch only wrong answers or hangs"
