"""Print pip requirements that pin every direct dependency of medattn to the floor pyproject.toml declares.

    python ci/lowest_versions.py [--with NAME ...] > requirements-lowest.txt

The main dependencies, plus the packages named with ``--with`` (looked up in the optional extras), come out as
``name==floor``; ``torch`` and ``torchvision`` keep their declared range, so they resolve as in the main install
(only the cached build can be installed here). Transitive dependencies are left to the resolver: this is the
"lowest direct" set. A dependency without a ``>=`` floor is an error, so every range stays testable.
"""

import argparse
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"
KEEP_RANGE = {"torch", "torchvision"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def floor_pin(requirement: str) -> str:
    """``'scipy>=1.15,<2'`` -> ``'scipy==1.15'``; a torch/torchvision range is kept as it is."""
    match = REQUIREMENT.match(requirement)
    if not match:
        raise ValueError(f"cannot parse requirement {requirement!r}")
    name, extras, specifiers, marker = match.groups()
    if normalise(name) in KEEP_RANGE:
        return requirement.strip()
    floors = [spec.strip()[2:].strip() for spec in specifiers.split(",") if spec.strip().startswith(">=")]
    if len(floors) != 1:
        raise ValueError(f"requirement {requirement!r} needs exactly one '>=' lower bound")
    return f"{name}{extras or ''}=={floors[0]}{marker or ''}"


def lowest_requirements(project: dict, extra_names: list[str]) -> list[str]:
    wanted = {normalise(name) for name in extra_names}
    requirements = list(project["dependencies"])
    found = set()
    for extra in project.get("optional-dependencies", {}).values():
        for requirement in extra:
            name = normalise(REQUIREMENT.match(requirement).group(1))
            if name in wanted and name not in found:
                requirements.append(requirement)
                found.add(name)
    if missing := wanted - found:
        raise ValueError(f"not in any extra of pyproject.toml: {', '.join(sorted(missing))}")
    return [floor_pin(requirement) for requirement in requirements]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="extra_names", action="append", default=[], metavar="NAME")
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT)
    args = parser.parse_args(argv)
    project = tomllib.loads(args.pyproject.read_text(encoding="utf-8"))["project"]
    try:
        lines = lowest_requirements(project, args.extra_names)
    except ValueError as error:
        print(f"lowest_versions: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
