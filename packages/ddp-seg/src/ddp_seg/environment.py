"""Check that torch, mmengine, mmcv and mmsegmentation versions work together.

mmsegmentation 1.2.2 asserts ``mmcv < 2.2.0`` deep inside its own import, with a message that does not say
which combination works. ``ddp_seg`` checks the installed distributions first (through package metadata, so
nothing heavy is imported) and raises :class:`IncompatibleVersionError` naming what to install.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

from packaging.version import Version

__all__ = [
    "IncompatibleVersionError",
    "VersionRequirement",
    "SUPPORTED_VERSIONS",
    "check_versions",
    "installed_version",
]

INSTALL_HINT = (
    "pip install 'torch>=2.4' 'mmengine==0.10.7' 'mmsegmentation==1.2.2' 'setuptools>=77.0.3,<82' ftfy regex, "
    "plus an mmcv >= 2.0.0rc4, < 2.2.0: keep a compiled mmcv if you have one, else pip install 'mmcv-lite==2.1.0' "
    "(or: pip install 'ddp-seg[lite]'; never mmcv-lite over a compiled mmcv, they share the mmcv/ folder)"
)


class IncompatibleVersionError(ImportError):
    """An installed package version is known not to work with ddp_seg's mmsegmentation stack."""


@dataclass(frozen=True)
class VersionRequirement:
    """A half-open version range ``minimum <= version < below`` for one or more distribution names.

    Attributes
    ----------
    distributions:
        Distribution names that provide the import, tried in order (``mmcv`` or ``mmcv-lite``).
    minimum:
        Lowest supported version (inclusive).
    below:
        First unsupported version (exclusive).
    why:
        One sentence saying where the bound comes from, shown in the error.
    """

    distributions: tuple[str, ...]
    minimum: str
    below: str
    why: str

    def admits(self, version: str) -> bool:
        """Return whether ``version`` lies in ``[minimum, below)``."""
        parsed = Version(version)
        return Version(self.minimum) <= parsed < Version(self.below)


SUPPORTED_VERSIONS: tuple[VersionRequirement, ...] = (
    VersionRequirement(("torch",), "2.4", "3.0", "ddp-vision networks and mmengine 0.10 need torch 2.x >= 2.4"),
    VersionRequirement(
        ("mmengine",), "0.10.0", "1.0.0", "mmsegmentation 1.2.2 asserts mmengine < 1.0.0; 0.10.7 is tested"
    ),
    VersionRequirement(
        ("mmcv", "mmcv-lite"),
        "2.0.0rc4",
        "2.2.0",
        "mmsegmentation 1.2.2 asserts 2.0.0rc4 <= mmcv < 2.2.0; ddp-seg does not install one: "
        "pip install 'ddp-seg[lite]' adds mmcv-lite 2.1.0, the tested wheel",
    ),
    VersionRequirement(
        ("mmsegmentation",), "1.2.0", "1.3.0", "the backbones are written against mmseg 1.2's registries"
    ),
)


def installed_version(distributions: tuple[str, ...]) -> tuple[str, str] | None:
    """Return ``(distribution, version)`` of the first installed distribution, or None if none is.

    Parameters
    ----------
    distributions:
        Distribution names to try in order.
    """
    for name in distributions:
        try:
            return name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def check_versions(requirements: tuple[VersionRequirement, ...] = SUPPORTED_VERSIONS) -> dict[str, str]:
    """Check installed versions against ``requirements`` and that ``pkg_resources`` can be imported.

    Parameters
    ----------
    requirements:
        The ranges to check; defaults to :data:`SUPPORTED_VERSIONS`.

    Returns
    -------
    dict[str, str]
        Distribution name to installed version, for logging.

    Raises
    ------
    IncompatibleVersionError
        If a distribution is missing or outside its range; the message names the fix.
    """
    found: dict[str, str] = {}
    problems: list[str] = []
    for requirement in requirements:
        installed = installed_version(requirement.distributions)
        wanted = f"{' or '.join(requirement.distributions)}>={requirement.minimum},<{requirement.below}"
        if installed is None:
            problems.append(f"{wanted} is not installed ({requirement.why})")
            continue
        name, version = installed
        found[name] = version
        if not requirement.admits(version):
            problems.append(f"{name}=={version} is installed but ddp_seg needs {wanted} ({requirement.why})")
    if importlib.util.find_spec("pkg_resources") is None:
        problems.append(
            "pkg_resources is missing (setuptools >= 82 removed it); mmengine needs it to read "
            "`mmseg::` config bases: install 'setuptools>=77.0.3,<82'"
        )
    if problems:
        raise IncompatibleVersionError(
            "ddp_seg cannot run with the installed packages:\n  - " + "\n  - ".join(problems) + f"\nFix: {INSTALL_HINT}"
        )
    return found
