import re
import subprocess
import sys
import unicodedata

import pytest

from corpusforge.text import cjk_ratio, normalize_text

# wiki 100213: a full-width year inside full-width brackets and commas.
TANG = "南宋周必大说《唐文粹》是“铨择”《文苑英华》的缩编本，但《文苑英华》一直到南宋嘉泰元年（１２０１）才付印，姚氏实无法看见《文苑英华》。"
TANG_NFKC = "南宋周必大说《唐文粹》是“铨择”《文苑英华》的缩编本,但《文苑英华》一直到南宋嘉泰元年(1201)才付印,姚氏实无法看见《文苑英华》。"


def test_full_width_ascii_becomes_half_width(wiki):
    assert TANG in wiki["100213"]
    assert normalize_text(TANG) == TANG_NFKC
    # NFKC leaves 。 and the CJK quotes and title marks alone
    assert "。" in TANG_NFKC and "“铨择”" in TANG_NFKC and "《唐文粹》" in TANG_NFKC


def test_full_width_punctuation_in_news(news):
    text = normalize_text(news["2187536527"])
    assert "“你有咳嗽或打喷嚏吗?你有感冒症状吗?如果是,避免与他人接触," in text
    assert "？" not in text and "，" not in text and "：" not in text


def test_no_break_space_and_ideographic_space_become_spaces(news, wiki):
    raw = news["845647698"]
    assert "谁来承担责任\xa0\xa0\xa0\xa0QDII基金今年再亏37亿\xa0\xa0\xa0\xa0QDII咸鱼翻身" in raw
    assert normalize_text(raw).endswith(
        "谁来承担责任 QDII基金今年再亏37亿 QDII咸鱼翻身 指数基金表现优于QDII QDII基金今年来大幅波动"
    )
    # U+3000 as found in Chinese text: paragraph indent (stripped) and word gap (one space)
    sentence = "广三铁路于1903年筑成，全长49公里。"
    assert sentence in wiki["100002"]
    assert normalize_text("\u3000\u3000广三铁路于1903年筑成，\u3000全长49公里。\u3000") == (
        "广三铁路于1903年筑成, 全长49公里。"
    )


def test_control_and_format_characters_are_removed(wiki):
    sentence = "牠们的蹄是张开的，方便在软绵绵的地上行走，其头颅骨也很大。"
    assert sentence in wiki["100026"]
    noisy = (
        "\ufeff牠们的\u200b蹄是\u200c张开的\u200d，方便\u2060在软绵\xad绵的\x00地上\x07行走，"
        "其头\x1b颅骨\x7f也很\u200e大\u202e。\U000e0041"
    )
    assert normalize_text(noisy) == "牠们的蹄是张开的,方便在软绵绵的地上行走,其头颅骨也很大。"
    assert normalize_text(noisy, form="none") == sentence


def test_lone_surrogates_are_removed():
    # json.loads accepts "\ud800"; such a string cannot be written as UTF-8
    text = normalize_text("初期共有两个\ud800地点的沼鹿族群。")
    assert text == "初期共有两个地点的沼鹿族群。"
    text.encode("utf-8")


def test_crlf_and_cr_become_lf(wiki):
    raw = wiki["100002"]
    assert "\n\n" in raw and "\r" not in raw
    expected = normalize_text(raw)
    assert normalize_text(raw.replace("\n", "\r\n")) == expected
    assert normalize_text(raw.replace("\n", "\r")) == expected
    assert expected.startswith("广茂铁路\n\n广茂铁路是中国广东省")


def test_tabs_and_space_runs_collapse_and_lines_are_stripped(wiki):
    assert "从猛将传 and Z开始。" in wiki["100000"]
    assert normalize_text("  从猛将传\t\tand    Z开始。 \t\n\n  战国无双3\t") == (
        "从猛将传 and Z开始。\n\n战国无双3"
    )


def test_other_line_separators_keep_a_line_break():
    text = "雄鹿肩高132厘米。\u2028鹿角在弯前长75厘米。\x0c最大的鹿角在弯前长104.1厘米。"
    assert normalize_text(text) == "雄鹿肩高132厘米。\n鹿角在弯前长75厘米。\n最大的鹿角在弯前长104.1厘米。"


def test_forms():
    assert normalize_text(TANG, form="none") == TANG
    assert normalize_text(TANG, form="NFC") == TANG  # full-width forms are canonical
    assert normalize_text("Ｋ\u3000e\u0301", form="NFC") == "Ｋ \u00e9"
    assert normalize_text("ｅ\u0301", form="NFKD") == "e\u0301"
    with pytest.raises(ValueError, match="form must be one of"):
        normalize_text(TANG, form="nfkc")


def _reference_normalize(text, form="NFKC"):
    """The rules spelled out character by character: slow, obviously right."""
    out = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\x0b\x0c\x85\u2028\u2029":
            out.append("\n")
        elif ch == "\t" or (cat == "Zs" and ch != " "):
            out.append(" ")
        elif ch != "\n" and cat in ("Cc", "Cf", "Cs"):
            continue
        else:
            out.append(ch)
    text = "".join(out)
    if form != "none":
        text = unicodedata.normalize(form, text)
    text = re.sub(" +", " ", text)
    return "\n".join(line.strip(" ") for line in text.split("\n")).strip("\n")


def test_fast_path_matches_the_reference(all_texts):
    # Noise that exercises the NFKC shortcut: characters that only normalise in context
    # (e + combining acute, conjoining jamo), multi-character expansions, compatibility ideographs.
    noise = "ｅ\u0301 \u1100\u1161 ¨ ⑴ ﬁ 豈 …… ㍿ \u3000 \u200b\x00\t"
    for text in all_texts:
        for sample in (text, noise + text[:200] + noise):
            for form in ("NFKC", "NFC", "none"):
                assert normalize_text(sample, form=form) == _reference_normalize(sample, form)


def test_idempotent(all_texts):
    for text in all_texts:
        once = normalize_text(text)
        assert normalize_text(once) == once


def test_character_tables_cover_the_unicode_database():
    kept_or_line_breaks = "\t\n\r\x0b\x0c\x85"
    removed = [
        chr(c)
        for c in range(0x110000)
        if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs") and chr(c) not in kept_or_line_breaks
    ]
    spaces = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Zs"]
    assert normalize_text("a" + "".join(removed) + "b", form="none") == "ab"
    assert normalize_text("a" + "".join(spaces) + "b", form="none") == "a b"


def test_t2s_on_traditional_wiki_sentences(wiki):
    cases = {
        "101113": (
            "北帝廟，毗鄰石水渠街的聖雅各福群會，建於1862年。",
            "北帝庙,毗邻石水渠街的圣雅各福群会,建于1862年。",
        ),
        "101109": (
            "約翰文書，為約翰福音、約翰一書、約翰二書、約翰三書以及啟示錄的總稱，這些書卷的作者都稱「約翰」。",
            "约翰文书,为约翰福音、约翰一书、约翰二书、约翰三书以及启示录的总称,这些书卷的作者都称「约翰」。",
        ),
    }
    for doc_id, (traditional, simplified) in cases.items():
        assert traditional in wiki[doc_id]
        assert normalize_text(traditional, t2s=True) == simplified
        assert normalize_text(traditional) == traditional.replace("，", ",")  # off by default
    title = normalize_text(wiki["101109"], t2s=True).split("\n")[0]
    assert title == "新约圣经"
    # simplified text passes through unchanged
    assert normalize_text(wiki["100002"], t2s=True) == normalize_text(wiki["100002"])


def test_importing_the_module_does_not_import_opencc():
    code = "import sys, corpusforge.text; assert 'opencc' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cjk_ratio(wiki, bert_docs, news):
    assert cjk_ratio("") == 0.0
    assert cjk_ratio(" \n\t") == 0.0
    # 雄鹿肩高 厘米 重 公斤: 9 ideographs of 21 visible characters
    assert cjk_ratio("雄鹿肩高132厘米,重170-180公斤。") == pytest.approx(9 / 21)
    assert cjk_ratio("雄鹿肩高132厘米, 重170-180公斤。\n") == pytest.approx(9 / 21)
    assert cjk_ratio("沼鹿") == 1.0
    assert cjk_ratio(bert_docs[1][0]) == 0.0
    assert cjk_ratio(news["63903007"]) == 0.0
    assert cjk_ratio("力加勝北区ᴵᴺᵀᵃছজটডণত") == pytest.approx(5 / 15)
    # Extension A, compatibility ideographs, Extension B
    assert cjk_ratio("㐀豈𠀀a") == pytest.approx(3 / 4)
    # kana, hangul and CJK punctuation are not ideographs
    assert cjk_ratio("ストップ。한국") == 0.0
    assert 0.6 < cjk_ratio(wiki["101109"]) < 1.0


def test_default_cleaning_keeps_every_entry_of_the_bert_chinese_vocab():
    """The default (form="none", what --normalize none runs) changes no vocabulary entry but U+2028,
    which it turns into the line break it is; NFKC rewrites over 150 of them, ，：？ among them."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
    vocab = path.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(vocab) == 21128 and vocab[8024] == "，" and vocab[117] == ","
    changed = [t for t in vocab if normalize_text(f"a{t}b", form="none") != f"a{t}b"]
    assert changed == ["\u2028", "##\u2028"]
    folded = [t for t in vocab if len(t) == 1 and normalize_text(f"a{t}b") != f"a{t}b"]
    assert len(folded) > 150 and {"，", "：", "？"} <= set(folded)
