"""A clone passes its tests on its own: no test reads anything outside the repository (a sibling
`../shared` folder, an absolute path on the developer's machine)."""
import ast
import importlib
from pathlib import Path

from tests.conftest import ROOT

TESTS = ROOT / "tests"
# files whose `..` strings are crafted hostile input that the code under test must refuse, never paths a test reads
HOSTILE_NAMES = {"tests/dataset/test_trust.py"}


def climbs_out(node: ast.AST, depth: int) -> bool:
    """`ROOT.parent...`, or `Path(__file__)` followed by more `.parent`s than the file is deep in the repo."""
    parents, from_file = 0, False
    while isinstance(node, (ast.Attribute, ast.Call)):
        if isinstance(node, ast.Attribute):
            parents += node.attr == "parent"
            node = node.value
        else:
            from_file |= any("__file__" in ast.unparse(a) for a in node.args)
            node = node.func
    if isinstance(node, ast.Name) and node.id == "ROOT":
        return parents > 0
    return (from_file or ast.unparse(node) == "__file__") and parents > depth


def outside_references(source: str, name: str) -> list[str]:
    """References in the source of the repository file `name` (tests/x.py) to paths outside the repository."""
    depth = name.count("/") + 1  # tests/x.py: two .parent steps from the file reach the root
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = node.value.replace("\\", "/").split("/")
            climbs = ".." in parts and name not in HOSTILE_NAMES
            if climbs or "shared" in parts or node.value.startswith(("/work", "/home", "/Users")):
                found.append(f"{name}:{node.lineno} {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr == "parent" and climbs_out(node, depth):
            found.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    return found


def test_the_scan_finds_what_it_is_for():
    source = ('SHARED = ROOT.parent / "shared" / "corpora"\nX = Path(__file__).parent.parent.parent / "v"\n'
              'Y = "../shared/vocab/vocab.txt"\nZ = "/work/shared/corpora"\n'
              'OK = Path(__file__).resolve().parent.parent / "samples" / "vocab"\n')
    found = sorted(f.split(" ", 1)[0] for f in outside_references(source, "tests/x.py"))
    assert found == ["tests/x.py:1", "tests/x.py:1", "tests/x.py:2", "tests/x.py:3", "tests/x.py:4"]


def test_no_test_source_refers_outside_the_repository():
    found = [f for p in sorted(TESTS.rglob("*.py")) if p.name != "test_self_contained.py"
             for f in outside_references(p.read_text(encoding="utf-8"), p.relative_to(ROOT).as_posix())]
    assert found == []


def test_every_path_constant_of_the_tests_is_inside_the_repository_and_exists():
    constants = {}
    for p in sorted(TESTS.rglob("*.py")):
        module = importlib.import_module(".".join(p.relative_to(ROOT).with_suffix("").parts))
        constants.update({f"{module.__name__}.{k}": v for k, v in vars(module).items()
                          if k.isupper() and isinstance(v, Path)})
    assert len(constants) >= 10 and "tests.conftest.VOCAB" in constants
    outside = {k: str(v) for k, v in constants.items() if not v.resolve().is_relative_to(ROOT)}
    assert outside == {}
    assert {k: str(v) for k, v in constants.items() if not v.exists()} == {}
