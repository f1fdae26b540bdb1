"""Every pipeline with its input and output in an object store (gs://, s3:// on a cluster; here the
test-only mem:// store of tests/memfs.py, which has no directories and no atomic rename): dataset
inputs are found, read and written through Beam's FileSystems, and the bytes equal a local build's."""
import pytest

from tests import memfs
from tests.conftest import SAMPLE, VOCAB, run_cli

BUCKET = "mem://bucket"
# (command, input dataset or None for the raw corpus, output name, arguments)
CHAIN = [
    ("documents", None, "docs", ()),
    ("tokenized", "docs", "tok", ("-t", VOCAB)),
    ("pretraining", "tok", "nsp", ("--dupe-factor", "2")),
    ("vocab", "docs", "vocab", ("-m", "wordpiece", "--vocab-size", "8000")),
    ("cooccurrence", "docs", "cooc", ()),
    ("ngrams", "docs", "ngrams", ("--order", "3")),
    ("stats", "docs", "stats", ()),
]


def stored(prefix: str) -> dict[str, bytes]:
    """Files under a mem:// prefix, by relative name (manifests and rejects name their paths: left out)."""
    return {k[len(prefix) + 1:]: v for k, v in memfs.STORE.items()
            if k.startswith(prefix + "/") and not k.endswith("manifest.json") and "/rejects/" not in k}


def local(path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != "manifest.json" and p.parent.name != "rejects"}


@pytest.fixture(scope="module")
def bucket():
    memfs.STORE.clear()
    for p in (SAMPLE / "wiki_zh").rglob("*"):
        if p.is_file():
            memfs.STORE[f"{BUCKET}/corpus/{p.relative_to(SAMPLE / 'wiki_zh').as_posix()}"] = p.read_bytes()
    memfs.STORE[f"{BUCKET}/{VOCAB.name}"] = VOCAB.read_bytes()
    yield BUCKET
    memfs.STORE.clear()


BY_NAME = {c[2]: c for c in CHAIN}


def build(name: str, bucket: str, here) -> None:
    """Builds `name` in the bucket and locally, after the dataset it reads (once per module)."""
    if (here / name).exists():
        return
    command, source, _, args = BY_NAME[name]
    if source:
        build(source, bucket, here)
    remote_in = f"{bucket}/{source}" if source else f"{bucket}/corpus/"  # a URL folder is a prefix ending in /
    local_in = here / source if source else SAMPLE / "wiki_zh"
    remote_args = [f"{bucket}/{VOCAB.name}" if a == VOCAB else a for a in args]  # the tokenizer from the store too
    run_cli("build", command, "-i", remote_in, "-o", f"{bucket}/{name}", *remote_args)
    run_cli("build", command, "-i", local_in, "-o", here / name, *args)


@pytest.mark.parametrize("name", [c[2] for c in CHAIN], ids=[c[0] for c in CHAIN])
def test_pipeline_reads_and_writes_an_object_store(tmp_path_factory, bucket, name):
    here = tmp_path_factory.getbasetemp() / "object-store-local"
    here.mkdir(exist_ok=True)
    build(name, bucket, here)
    remote = stored(f"{bucket}/{name}")
    assert "data-00000-of-00001.arrow" in remote or "vocab.txt" in remote, sorted(remote)
    assert remote == local(here / name)
    # the finished dataset appeared under its name only: no temporary prefix is left in the bucket
    assert not [k for k in memfs.STORE if "incomplete" in k or "/." in k]


def test_an_existing_object_store_output_needs_overwrite(bucket):
    run_cli("build", "documents", "-i", f"{bucket}/corpus/", "-o", f"{bucket}/again")
    result = run_cli("build", "documents", "-i", f"{bucket}/corpus/", "-o", f"{bucket}/again", ok=False)
    assert result.exit_code != 0 and "already exists; pass --overwrite" in result.output
