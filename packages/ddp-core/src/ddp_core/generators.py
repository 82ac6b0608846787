"""ENG for any run directory, dispatched through a registry of generators that installed packages declare.

``ddpnas-generate RUN_DIR [space-specific budget flags]`` (or ``python tools/generate.py RUN_DIR ...``) reads
``RUN_DIR/space.json``, looks up its ``metadata.kind`` (a name such as ``darts``) among the entry points of the
``ddpnas.generators`` group and hands the remaining arguments to that generator. ``RUN_DIR --help`` lists them.

Nothing named in the file is imported: the kind is only a key into what the installed packages registered in
their ``pyproject.toml``::

    [project.entry-points."ddpnas.generators"]
    darts = "ddp_vision.darts.generate:cli"     # callable(run_dir: Path, argv: list[str]) -> exit status

When two installed packages register the same kind (``nas-bench-macro``: ddp-core's tabular oracle and
ddp-vision's supernet), the space's recorded ``metadata.generator`` chooses between the registered entries by
exact equality with an entry's value; a value that no registered entry has is refused.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

GROUP = "ddpnas.generators"
# Only for error messages: which package to install for a kind that no installed package registers.
PACKAGE_OF_KIND = {
    "darts": "ddp-vision",
    "mobilenet": "ddp-vision",
    "nas-bench-macro": "ddp-vision",  # supernet runs; ddp-core itself registers the tabular oracle's
    "bert": "ddp-bert",
}
USAGE = "usage: ddpnas-generate RUN_DIR [space-specific flags] (RUN_DIR --help lists them; --debug: tracebacks)"

Generator = Callable[[Path, list[str]], Any]


class GeneratorLookupError(ValueError):
    """The run directory names no kind that an installed package generates for (one line, for the CLI)."""


def registered_generators() -> dict[str, list[EntryPoint]]:
    """Every installed generator by kind (a kind may be registered by several packages)."""
    found: dict[str, list[EntryPoint]] = {}
    for entry in entry_points(group=GROUP):
        found.setdefault(entry.name, []).append(entry)
    return found


def _distribution(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return dist.name if dist is not None else "?"


def pip_install_hint(package: str) -> str:
    """How to install ``package`` (not on PyPI): from a clone's source folder, or a wheel built from it."""
    wheel = package.replace("-", "_")
    return (f"pip install packages/{package} from a clone of the ddpnas repository (or a wheel: uv build "
            f"--package {package}, then pip install dist/{wheel}-*.whl); it is not on PyPI")


def _install_hint(kind: str) -> str:
    if kind in PACKAGE_OF_KIND:
        return f"install the package that made the run: {pip_install_hint(PACKAGE_OF_KIND[kind])}"
    by_package: dict[str, list[str]] = {}
    for name, package in PACKAGE_OF_KIND.items():
        by_package.setdefault(package, []).append(name)
    known = "; ".join(f"{package}: {', '.join(kinds)}" for package, kinds in by_package.items())
    return f"install the package that made the run ({known}) from a clone of the ddpnas repository"


def read_space_metadata(run_dir: Path) -> dict[str, Any]:
    """``metadata`` of ``run_dir/space.json``, checked to be a JSON object."""
    space_file = run_dir / "space.json"
    if not space_file.is_file():
        raise GeneratorLookupError(f"{space_file} not found; pass the --run-dir of a finished or running search")
    try:
        space = json.loads(space_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GeneratorLookupError(f"{space_file} is not readable JSON ({error}); restore it from the search") from None
    metadata = space.get("metadata") if isinstance(space, dict) else None
    if not isinstance(metadata, dict):
        raise GeneratorLookupError(f"{space_file} has no metadata object; it was not written by a ddpnas search")
    return metadata


def find_generator(metadata: dict[str, Any], where: str = "space.json") -> EntryPoint:
    """The registered entry point for ``metadata["kind"]`` (see the module docstring for ties)."""
    kind = metadata.get("kind")
    registry = registered_generators()
    installed = ", ".join(sorted(registry)) or "none"
    if not isinstance(kind, str) or not kind:
        raise GeneratorLookupError(f"{where} names no space kind (metadata.kind); installed kinds: {installed}")
    entries = registry.get(kind, [])
    if not entries:
        raise GeneratorLookupError(f"no installed package generates networks for kind {kind!r} ({where}); "
                                   f"installed kinds: {installed}; {_install_hint(kind)}")
    if len(entries) == 1:
        return entries[0]
    recorded = metadata.get("generator")
    matching = [entry for entry in entries if entry.value == recorded]
    if matching:
        return matching[0]
    options = ", ".join(f"{_distribution(e)} ({e.value})" for e in entries)
    raise GeneratorLookupError(f"kind {kind!r} ({where}) is registered by {options}, and the space's recorded "
                               f"generator {recorded!r} is none of them; restore space.json from the search")


def load_generator(entry: EntryPoint) -> Generator:
    """Import a registered generator; a broken install is one line naming the package to reinstall."""
    package = _distribution(entry)
    try:
        generator = entry.load()
    except ImportError as error:
        raise GeneratorLookupError(f"the {entry.name!r} generator of {package} ({entry.value}) does not import "
                                   f"({error}); reinstall it: {pip_install_hint(package)}") from error
    if not callable(generator):
        raise GeneratorLookupError(f"the {entry.name!r} generator of {package} ({entry.value}) is not callable")
    return generator


def main(argv: Sequence[str] | None = None) -> int:
    """``ddpnas-generate RUN_DIR [flags]``: the exit status (2 with one error line on bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [arg for arg in argv if arg != "--debug"]
    if not argv or argv[0] in ("-h", "--help"):
        print((__doc__ or "").strip() if argv else USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    run_dir = Path(argv[0])
    try:
        entry = find_generator(read_space_metadata(run_dir), where=str(run_dir / "space.json"))
        generator = load_generator(entry)
    except GeneratorLookupError as error:
        if debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return 2
    from ddp_core.cli import EXPECTED_ERRORS, one_line

    try:
        return int(generator(run_dir, argv[1:]) or 0)
    except EXPECTED_ERRORS as error:  # a generator's expected failure is one line too (--debug: the traceback)
        if debug:
            raise
        print(f"error: {one_line(error)} (--debug shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
