"""eval lm prepares its text as build ngrams prepared the counts (cleaning, --normalize, --t2s, from the
manifest): raw news text and the same text normalised beforehand by the reference libraries
(unicodedata's NFKC, OpenCC's t2s) get the same scores; a model counted without NFKC does not fold."""
import json
import re
import unicodedata

import opencc

from tests.conftest import ROOT, run_cli

NEWS = ROOT / "samples" / "corpora" / "news2016zh"
INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")  # the format characters cleaning removes


def raw_lines(tmp_path):
    """The first 20 articles of the validation file, one per line, exactly as the corpus spells them."""
    with open(NEWS / "news2016zh_valid.json", encoding="utf-8") as f:
        lines = [" ".join(json.loads(line)["content"].split()) for _, line in zip(range(20), f)]
    path = tmp_path / "raw.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


def model(tmp_path, name, *prepare):
    counts, out = tmp_path / f"{name}.ng", tmp_path / name
    run_cli("build", "ngrams", "-i", NEWS / "news2016zh_train.json", "--units", "chars", "--order", 3, *prepare,
            "-o", counts)
    run_cli("build", "lm", "-i", counts, "-o", out)
    return out


def scores(lm, path):
    return run_cli("eval", "lm", lm, path).output.split("\n", 1)[1]  # OOVs and perplexities, without the path


def test_raw_and_prenormalised_text_score_the_same(tmp_path):
    raw, lines = raw_lines(tmp_path)
    t2s = opencc.OpenCC("t2s")
    prepared = tmp_path / "prepared.txt"
    prepared.write_text("\n".join(t2s.convert(unicodedata.normalize("NFKC", INVISIBLE.sub("", s))) for s in lines)
                        + "\n", encoding="utf-8")
    assert prepared.read_text(encoding="utf-8") != raw.read_text(encoding="utf-8")  # full-width ，：（） ...
    nfkc = model(tmp_path, "nfkc", "--normalize", "NFKC", "--t2s")
    assert json.loads((nfkc / "manifest.json").read_text())["params"]["text_preparation"] == {
        "normalize": "NFKC", "t2s": True}
    assert scores(nfkc, raw) == scores(nfkc, prepared)

    # the default (--normalize none) keeps full-width characters: eval must not fold them either
    plain = model(tmp_path, "plain")
    assert scores(plain, raw) != scores(plain, prepared)
