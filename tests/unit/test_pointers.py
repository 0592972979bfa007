"""Every file that a docstring or a comment of the code names exists: a rename or a
split leaves no pointer to a file that is gone (a module, a test file, a page of docs;
a path followed by ::name also names a test that must be in that file)."""
import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = ("service", "jobs", "core", "cli", "devstack", "bench", "tests", "tools", "docs",
       "artifacts")
PATH = re.compile(r"(?<![\w./-])((?:%s)/[\w./-]*[\w/]|settings\.py|run\.py|README\.md"
                  r"|Makefile|docker-compose\.yml)(?:::(\w+))?" % "|".join(TOP))
SECTION = re.compile(r'(README|docs/[\w-]+\.md)"?,?\s+"([^"]+)"')
SOURCES = [*ROOT.glob("*.py"), *(p for top in ("service", "jobs", "core", "cli", "devstack",
                                              "bench", "tests") for p in (ROOT / top).rglob("*.py"))]


def prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the file's comments and of its strings that stand as statements
    (docstrings), not of strings the code uses (a page's relative URLs)."""
    text = path.read_text()
    found = [(token.start[0], token.string)
             for token in tokenize.generate_tokens(io.StringIO(text).readline)
             if token.type == tokenize.COMMENT]
    found += [(node.lineno, node.value.value) for node in ast.walk(ast.parse(text))
              if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
              and isinstance(node.value.value, str)]
    return found


def test_every_file_a_comment_or_docstring_names_exists():
    missing = []
    for source in SOURCES:
        for line, text in prose(source):
            for match in PATH.finditer(text):
                named, test = match.group(1).rstrip("."), match.group(2)
                if "*" in named or "NAME" in named or named.endswith("/") \
                        or text[match.end():match.end() + 2].lstrip(".").startswith("{"):
                    continue  # a pattern, a placeholder, a folder, a.{json,md}
                target = ROOT / named
                where = f"{source.relative_to(ROOT)}:{line}"
                if not target.exists():
                    missing.append(f"{where} names {named}")
                elif test and target.suffix == ".py" and not any(
                        isinstance(node, ast.FunctionDef) and node.name.startswith(test)
                        for node in ast.walk(ast.parse(target.read_text()))):
                    missing.append(f"{where} names {named}::{test}")
    assert not missing, "\n".join(missing)


def headings(page: Path) -> list[str]:
    """The page's headings, and the terms it sets in bold (a list's named items)."""
    text = page.read_text()
    return [*(line.lstrip("#").strip().lower() for line in text.splitlines()
              if line.startswith("#")),
            *(term.lower() for term in re.findall(r"\*\*([^*]+)\*\*", text))]


def test_every_section_a_comment_or_docstring_cites_exists():
    """A page and a quoted section name (as the workers' module cites the operations
    page's garbage collection) name a heading, or a bold term, of that page."""
    missing = []
    for source in SOURCES:
        for line, text in prose(source):
            for match in SECTION.finditer(text):
                page = ROOT / ("README.md" if match.group(1) == "README" else match.group(1))
                cited = " ".join(match.group(2).split()).lower()
                if not any(cited in heading for heading in headings(page)):
                    missing.append(f"{source.relative_to(ROOT)}:{line} cites {match.group(0)}")
    assert not missing, "\n".join(missing)
