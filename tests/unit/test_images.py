"""What can be checked of the images without a Docker engine: hadolint passes, every COPY source is in the
build context (and not dropped by .dockerignore), base images are pinned, every image runs as a numeric
non-root user, and every command an image starts is installed by the packages it builds."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(
    {*ROOT.glob("*/Dockerfile"), *ROOT.glob("ml-models/app/Dockerfile"), *ROOT.glob("ml-models/models/*/Dockerfile")}
)
VENV_BIN = ROOT / ".venv" / "bin"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(dockerfile):
        if keyword == "FROM":
            split.append([])
        if split:
            split[-1].append((keyword, rest))
    return split


def ignored(path: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and p[0] != "#"]
    assert not any(p.startswith("!") for p in patterns), "exceptions are not modelled here"
    prefixes = [str(Path(*Path(path).parts[: n + 1])) for n in range(len(Path(path).parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for pattern in patterns for prefix in prefixes)


def test_there_is_an_image_for_each_deployable() -> None:
    names = {str(d.relative_to(ROOT).parent) for d in DOCKERFILES}
    assert {"gateway-service", "monitoring-job", "annotation", "ml-models/app"} <= names
    assert {f"ml-models/models/{d.name}" for d in (ROOT / "ml-models" / "models").iterdir() if d.is_dir()} <= names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda d: str(d.relative_to(ROOT)))
def test_hadolint_passes(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint") or str(VENV_BIN / "hadolint")
    linted = subprocess.run(
        [hadolint, "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_copy_source_is_in_the_build_context(dockerfile: Path) -> None:
    for keyword, rest in instructions(dockerfile):
        args = rest.split()
        if keyword not in ("COPY", "ADD") or any(a.startswith("--from=") for a in args):
            continue
        for source in [a for a in args if not a.startswith("--")][:-1]:
            matches = [m for m in ROOT.glob(source.rstrip("/")) if not ignored(str(m.relative_to(ROOT)))]
            assert matches, f"{dockerfile.relative_to(ROOT)}: {keyword} {source} is not in the build context"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda d: str(d.relative_to(ROOT)))
def test_images_are_pinned_and_run_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    for keyword, rest in instructions(dockerfile):
        if keyword == "ARG" and rest.startswith("PYTHON_IMAGE="):
            assert re.fullmatch(r"PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", rest), rest
    for stage in stages(dockerfile):
        users = [rest for keyword, rest in stage if keyword == "USER"]
        runs = any(keyword in ("CMD", "ENTRYPOINT") for keyword, _ in stage)
        if users or runs:
            assert users and users[-1].isdigit() and int(users[-1]) != 0, f"{dockerfile}: {stage[0][1]} runs as root"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda d: str(d.relative_to(ROOT)))
def test_the_command_an_image_starts_is_installed_by_its_packages(dockerfile: Path) -> None:
    for keyword, rest in instructions(dockerfile):
        if keyword in ("CMD", "ENTRYPOINT") and rest.startswith("["):
            command = json.loads(rest)[0]
            if keyword == "ENTRYPOINT" or not any(k == "ENTRYPOINT" for k, _ in instructions(dockerfile)):
                assert (VENV_BIN / command).exists(), f"{dockerfile.relative_to(ROOT)}: {command} is not installed"


def test_the_model_base_has_a_cpu_and_a_gpu_target() -> None:
    targets = {
        rest.split()[-1]
        for keyword, rest in instructions(ROOT / "ml-models" / "app" / "Dockerfile")
        if keyword == "FROM"
    }
    assert {"cpu", "gpu"} <= targets
