"""Ranges where behaviour allows, exact versions where output bytes depend on them: pyproject.toml's requirements
accept the versions constraints.txt pins (the ones CI installs), and this environment runs exactly those."""
import re
import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement

from tests.conftest import ROOT


def requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    return {r.name: r for r in reqs if not r.name.startswith("corpusforge")}


def constraints():
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", (ROOT / "constraints.txt").read_text(), re.M)
    assert pins
    return dict(pins)


def test_the_pinned_versions_lie_inside_the_ranges_and_are_the_installed_ones():
    reqs = requirements()
    for name, pinned in constraints().items():
        assert reqs[name].specifier.contains(pinned), (name, pinned, str(reqs[name].specifier))
        assert version(name).split("+")[0] == pinned, (name, version(name))  # CI installs with -c constraints.txt


def test_beam_and_torch_are_ranges():
    reqs = requirements()
    for name in ("apache-beam", "torch"):
        assert not any(s.operator == "==" for s in reqs[name].specifier), name


def test_the_readme_installs_with_the_constraints():
    readme = (ROOT / "README.md").read_text()
    setup = [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(setup) == 2 and all("-c constraints.txt" in line for line in setup)
    assert "-c constraints.txt" in (ROOT / ".ci" / "run").read_text()
