"""--lang-filter end to end on the sample news (Chinese and English articles mixed)."""
import pytest

from corpusforge.dataset.reader import load_table, read_manifest
from tests.conftest import SAMPLE, build_documents, run_cli


@pytest.mark.parametrize("langs, kept, filtered", [("zh", 161, 39), ("en", 39, 161), ("zh,en", 200, 0)])
def test_lang_filter_on_the_sample_news(tmp_path, langs, kept, filtered):
    out = tmp_path / "out"
    build_documents(out, SAMPLE / "news2016zh", args=["--lang-filter", langs])
    m = read_manifest(str(out))
    assert m["rows"] == kept and m["input"]["filtered_by_reason"] == ({"wrong_language": filtered} if filtered else {})
    assert m["params"]["lang_filter"] == sorted(langs.split(",")) and m["params"]["lang_min_share"] == 0.5
    has_cjk = [any("\u4e00" <= c <= "\u9fff" for s in r["sentences"] for c in s) for r in load_table(str(out)).to_pylist()]
    assert all(has_cjk) if langs == "zh" else not any(has_cjk) if langs == "en" else True


def test_unknown_language_code_fails_with_one_sentence(tmp_path):
    r = run_cli("build", "documents", "-i", SAMPLE / "news2016zh", "-o", tmp_path / "o", "--lang-filter", "zh,cn",
                ok=False)
    assert r.exit_code == 2 and "'cn' is not a language code CLD2 knows" in r.output and "Traceback" not in r.output


def test_without_lang_filter_the_manifest_has_no_language_params(tmp_path):
    out = tmp_path / "out"
    build_documents(out, SAMPLE / "plain")
    assert not {"lang_filter", "lang_min_share"} & set(read_manifest(str(out))["params"])
