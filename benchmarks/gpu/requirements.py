"""Will the package import on the target machine? Its requirements against what will be there.

What will be there: the machine's own packages (``machine_packages.txt``) and, in front of
them on ``PYTHONPATH``, the carried wheels — the wheel folder when it exists, else the plan
of ``wheels.txt`` (pins and the requirements copied from their METADATA). The requirements:
``pyproject.toml``'s dependencies and its ``test`` extra, then, transitively, those of every
carried wheel. Markers are evaluated for the target (:data:`TARGET`); ``extra`` requirements
are left out. Needs ``packaging`` (there on both sides).
"""

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:      # Python 3.10: tomli, which pytest needs there
    import tomli as tomllib

TARGET = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython",
          "extra": ""}
"""PEP 508 marker values of the target machine."""

SUBSTITUTES = {"nvidia-cufft-cu12": "cufft_shim/ (libcufft.so.11 forwarding to the machine's "
                                    "libcufft.so.12)"}
"""Requirements deliberately not carried, and what stands in for each."""

WHEEL_TAG = re.compile(r"^(py3|cp312)-(none|cp312|abi3)-(any|(manylinux\w*|linux)_x86_64)$")
"""Tags a wheel may carry to install on the target (a compressed tag set is split first)."""


@dataclass
class Report:
    """What the check found: ``missing`` and ``conflicts`` stop a run, ``notes`` do not."""

    resolved: dict = field(default_factory=dict)     # name -> "version (source)"
    missing: list = field(default_factory=list)
    conflicts: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.conflicts


def read_machine_packages(path) -> dict:
    """``{canonical name: version or None}`` from a ``name [version]`` list (``#`` comments)."""
    packages = {}
    for line in Path(path).read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            packages[canonicalize_name(words[0])] = words[1] if len(words) > 1 else None
    return packages


def read_plan(path) -> dict:
    """``{canonical name: (version, [requirement strings])}`` from ``wheels.txt``."""
    plan, current = {}, None
    for line in Path(path).read_text().splitlines():
        text = line.split("#", 1)[0].rstrip()
        if not text:
            continue
        if line[0].isspace():
            if current is None:
                raise ValueError(f"{path}: requirement {text.strip()!r} under no pinned wheel")
            plan[current][1].append(text.strip())
            continue
        name, sep, version = text.partition("==")
        if not sep:
            raise ValueError(f"{path}: {text!r} is not a pin NAME==VERSION")
        current = canonicalize_name(name)
        plan[current] = (version.strip(), [])
    return plan


def read_wheels(folder) -> tuple[dict, list]:
    """``({canonical name: (version, [requirements], file name)}, problems)`` of a folder of
    wheels; problems: two versions of one package, tags the target cannot install."""
    wheels, problems = {}, []
    for path in sorted(Path(folder).glob("*.whl")):
        name, version, _, tags = parse_wheel_filename(path.name)
        name = canonicalize_name(name)
        if not any(WHEEL_TAG.match(str(tag)) for tag in tags):
            problems.append(f"{path.name}: no tag installable on CPython 3.12 x86-64 Linux")
        if name in wheels:
            problems.append(f"two wheels of {name}: {wheels[name][2]} and {path.name}")
        wheels[name] = (str(version), _requires_dist(path), path.name)
    return wheels, problems


def _requires_dist(wheel: Path) -> list:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist()
                        if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    return [line.split(":", 1)[1].strip() for line in text.split("\n\n", 1)[0].splitlines()
            if line.startswith("Requires-Dist:")]


def project_requirements(pyproject) -> list:
    """The dependencies and the ``test`` extra of ``pyproject.toml``."""
    project = tomllib.loads(Path(pyproject).read_text())["project"]
    return project["dependencies"] + project.get("optional-dependencies", {}).get("test", [])


def resolve(requirements, machine: dict, carried: dict) -> Report:
    """Check ``requirements`` and, transitively, those of every carried package they reach.

    ``carried``: ``{name: (version, [requirements], ...)}``, wheels or plan; they shadow the
    machine's packages of the same name.
    """
    report = Report()
    queue = [(text, "pyproject.toml") for text in requirements]
    seen = set()
    while queue:
        text, wanted_by = queue.pop(0)
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(TARGET):
            continue
        name = canonicalize_name(req.name)
        if (name, str(req.specifier)) in seen:
            continue
        seen.add((name, str(req.specifier)))
        where = f"{req} (needed by {wanted_by})"
        if name in carried:
            version = carried[name][0]
            report.resolved[name] = f"{version} (carried)"
            queue += [(t, name) for t in carried[name][1]]
        elif name in machine:
            version = machine[name]
            report.resolved[name] = f"{version or 'version unknown'} (on the machine)"
            if version is None:
                if req.specifier:
                    report.notes.append(f"{where}: on the machine, version not known")
                continue
        elif name in SUBSTITUTES:
            report.resolved[name] = f"stood in for by {SUBSTITUTES[name]}"
            continue
        else:
            report.missing.append(where)
            continue
        if not req.specifier.contains(Version(version), prereleases=True):
            report.conflicts.append(f"{where}: {version} will be there")
    return report
