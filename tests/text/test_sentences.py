import pytest

from corpusforge.text import cjk_ratio, normalize_text, split_sentences


def both(text, lang="auto"):
    """Splits of the raw text and of its NFKC normalisation, which must agree."""
    raw = split_sentences(text, lang)
    normalized = split_sentences(normalize_text(text), lang)
    assert normalized == [normalize_text(s) for s in raw]
    return raw


# --- Chinese ---------------------------------------------------------------------------------


def test_brief_example():
    assert split_sentences("他说：“你好。”然后走了。") == ["他说：“你好。”", "然后走了。"]
    assert split_sentences(normalize_text("他说：“你好。”然后走了。")) == ["他说:“你好。”", "然后走了。"]


def test_whole_wiki_article(wiki):
    assert both(wiki["100213"]) == [
        "唐文粹",
        "《唐文粹》又称《文粹》、《唐贤文粹》，100卷。",
        "宋代姚铉（967～1020）编。",
        "《唐文粹》选录《文苑英华》中唐诗以古体诗为主，但不收四六文、近体诗，序言称“以古雅为命，"
        "不以雕篆为工，故侈言曼辞率皆不取。”。",
        "分〈古赋〉九、〈诗〉十三、〈颂〉五、〈赞〉二、〈表奏书疏〉七、〈文〉四、〈论〉五、〈议〉四、"
        "〈古文〉八、〈碑〉十七、〈铭〉五、〈记〉七、〈箴诫铭〉一、〈书〉十二、〈序〉八、〈传录纪事〉二。",
        "共收文、赋1104篇，诗961首。",
        "《唐文粹》收录精简，在宋真宗朝大为盛行。",
        "南宋周必大说《唐文粹》是“铨择”《文苑英华》的缩编本，但《文苑英华》一直到南宋嘉泰元年"
        "（１２０１）才付印，姚氏实无法看见《文苑英华》。",
        "明代张溥有《唐文粹删》，清代王士祯有《唐文粹诗选》，郭麐有《唐文粹补遗》二十六卷。",
        "民国初年黄侃在去世前一天，大量呕血，坚持把《唐文粹补遗》末二卷圈点读完。",
    ]


def test_closing_quotes_and_brackets_stay_with_their_sentence(wiki, news):
    sentences = both(news["2187536527"])
    assert "这是一个非常重要的机会，让全球的各国卫生部门领导聚集一堂，就流感相关的问题及其他重要问题进行讨论。”" in sentences
    assert "“这一消息，将由总务委员会在世界卫生大会第一日正式确认。”" in sentences
    # brackets: （注：...。） is one sentence
    assert "（注：前方加☆者为猛将传新增关卡及地图。）" in both(wiki["100000"])
    # corner brackets (traditional wiki text): 」 after 。 closes the quotation
    sentences = both(wiki["101109"])
    assert "然後這些都屬於可以接受的著作。」" in sentences
    assert (
        "「3：一些有爭議的著作，仍然被許多人承認的，包括現在的雅各書、猶大書，以及彼得後書、"
        "約翰二書和三書，不確定這些書卷是否是使徒所著，或是由其他同名的人所寫。"
    ) in sentences


def test_closing_quote_after_a_space(news):
    # the news text has a space between 。 and ”: the quote still closes the sentence
    assert "哈哈大笑起来：“就是流感嘛。我不怕。 ”他说" in news["2187536527"]
    sentences = both(news["2187536527"])
    i = sentences.index("后来终于明白过来，竟然哈哈大笑起来：“就是流感嘛。")
    assert sentences[i + 1 : i + 3] == [
        "我不怕。 ”",
        "他说，15天前，他从苏黎士飞上海，到了上海以后，他们被留在飞机上，“有专门的检查人员给我们测量体温。 ”",
    ]


def test_ascii_quote_after_terminator_opens_or_closes_by_count(wiki):
    sentences = both(wiki["100026"])
    assert "牠们的蹄是张开的，方便在软绵绵的地上行走，其头颅骨也很大。" in sentences
    assert "\"R. d. branderi\"分布在印度中部的硬地，尤其是在中央邦。" in sentences
    assert split_sentences('他说:"你好。我是张三。"然后走了。') == ['他说:"你好。', '我是张三。"', "然后走了。"]


def test_ellipses(news, wiki):
    sentences = both(news["658245845"])
    assert "“这是战国时期的玉盅、这是辽代的带扣、这是汉代的玉龙首、这是唐代的玉骆驼、这是……”" in sentences
    assert "“这是战国时期的玉盅、这是辽代的带扣、这是汉代的玉龙首、这是唐代的玉骆驼、这是......”" in (
        split_sentences(normalize_text(news["658245845"]))
    )
    # three ASCII dots end a sentence too
    sentences = both(wiki["101109"])
    i = sentences.index("該撒利亞的優西比烏在大約公元300年，記錄下了新約聖經書卷的詳細清單，《教會史》第三冊25章：「1：...")
    assert sentences[i + 1 : i + 3] == ["首先則必須是神聖的四福音書；", "接著是使徒行傳..."]
    # two dots are not an ellipsis
    assert split_sentences("首先則必須是神聖的四福音書..接著是使徒行傳。") == ["首先則必須是神聖的四福音書..接著是使徒行傳。"]


def test_full_width_and_nfkc_punctuation(news, webtext):
    text = news["2187536527"]
    assert "“你有咳嗽或打喷嚏吗？你有感冒症状吗？如果是，" in text
    raw = split_sentences(text)
    assert "你有感冒症状吗？" in raw
    nfkc = split_sentences(normalize_text(text))
    assert "你有感冒症状吗?" in nfkc
    assert len(raw) == len(nfkc)
    # ； and its NFKC form ;
    sentences = both(news["845647698"])
    assert "银华全球核心净值下跌8.84%；" in sentences
    # a run of terminators is one end; 。 。 (space between) too
    assert both(webtext["1295"])[0] == "我也没试驾过就提车了??????"
    assert "6300到6400公里亮机油灯。 。" in both(webtext["1347"])


def test_decimals_and_numbered_items_never_split(wiki, news):
    sentences = both(wiki["100002"])
    assert sentences[1].endswith("的铁路，全长364.6公里，由三茂铁路股份有限公司管理运营。")
    assert sentences[3].endswith("广茂铁路则全长421.326公里，共有47个车站。")
    assert "而表现最好的QDII基金今年以来也下跌了3.26%。" in both(news["845647698"])
    sentences = both(wiki["100000"])
    assert "此部份专门介绍角色，欲知武器情报、奥义字或擅长攻击类型等，请至战国无双系列1.由于乡里大辅先生因故去世，不得不寻找其他声优接手。" in sentences
    assert "2.战国无双 编年史的原创男女主角亦有专属声优。" in sentences


def test_markup_and_urls_do_not_split():
    # wiki conversion markup and a URL query: ; and ? before a letter are not sentence ends
    text = (
        "首次代表-{zh-hans:卡尔顿·科尔;zh-hk:卡顿·高尔;zh-tw:卡尔顿·科尔;}-出场。"
        "见http://www.bilibili.com/video/av22025835?share_medium=android。"
    )
    assert split_sentences(text, "zh") == [
        "首次代表-{zh-hans:卡尔顿·科尔;zh-hk:卡顿·高尔;zh-tw:卡尔顿·科尔;}",
        "-出场。",
        "见http://www.bilibili.com/video/av22025835?share_medium=android。",
    ]


def test_paragraphs_split_first_and_results_are_stripped(wiki):
    sentences = both(wiki["100000"])
    assert sentences[:2] == ["战国无双3", "《战国无双3》（）是由光荣和ω-force开发的战国无双系列的正统第三续作。"]
    assert sentences[-1] == "系列作品外传作品"  # a last paragraph without terminator
    assert split_sentences("  沼鹿  \n\n\n  初期共有两个地点的沼鹿族群。  \n \n") == ["沼鹿", "初期共有两个地点的沼鹿族群。"]
    assert all(s == s.strip() and s for s in sentences)
    assert split_sentences("") == [] and split_sentences(" \n\n ") == []


# --- English ---------------------------------------------------------------------------------


def test_bert_sample_document_is_recovered_exactly(bert_docs):
    # the Blazing Star document: closing quotes, "4 A. M.,", "Mr. Cassius", "Gold, surely!"
    doc = bert_docs[1]
    assert len(doc) == 13 and "Mr. Cassius crossed the highway, and stopped suddenly." in doc
    assert split_sentences(" ".join(doc), "en") == doc
    assert split_sentences(" ".join(doc)) == doc  # auto picks the English rules


def test_bert_sample_agreement(bert_docs):
    """Every line end of the sample that follows . ! ? is found, and no other boundary but two.

    The sample's other line breaks are after ';' or a header line without punctuation, which
    are not sentence ends; the two extra boundaries are real sentence ends the sample keeps
    on one line ("...the hog-bucket itself. Well, ..." and "...basket of fruit?' And ...").
    """
    missed, extra, found = [], [], 0
    for doc in bert_docs:
        gold = {len(" ".join(doc[: i + 1])) for i in range(len(doc) - 1)}
        got = split_sentences(" ".join(doc), "en")
        pred = {len(" ".join(got[: i + 1])) for i in range(len(got) - 1)}
        text = " ".join(doc)
        found += len(gold & pred)
        missed += [text[b - 20 : b] for b in sorted(gold - pred)]
        extra += [text[b - 20 : b] for b in sorted(pred - gold)]
    assert found == 24
    assert missed == [
        "rly: 力加勝北区ᴵᴺᵀᵃছজটডণত",
        " little apish guide;",
        "hills of the desert;",
        "e end of the street;",
    ]
    assert extra == ["e hog-bucket itself.", "is basket of fruit?'"]


def test_english_abbreviations_and_initials(bert_docs):
    # two real lines, glued with an abbreviation in place of ". Mr."
    assert bert_docs[1][6:8] == [
        "This was nearly opposite.",
        "Mr. Cassius crossed the highway, and stopped suddenly.",
    ]
    base = "This was nearly opposite {} Cassius crossed the highway, and stopped suddenly."
    for abbr in (
        "Mr. Mrs. Ms. Dr. Prof. Sr. Jr. St. Gen. Gov. Mt. Inc. Ltd. Co. Corp. Fig. vs. etc. "
        "e.g. i.e. U.S. Jan. Feb. Aug. Sept. Dec. J. A. M."
    ).split():
        text = base.format(abbr)
        assert split_sentences(text, "en") == [text], abbr
    assert split_sentences(base.format("there."), "en") == [
        "This was nearly opposite there.",
        "Cassius crossed the highway, and stopped suddenly.",
    ]
    # "No." is an abbreviation only before a number
    assert split_sentences("He read No. 5 aloud. Cass was superstitious.", "en") == [
        "He read No. 5 aloud.",
        "Cass was superstitious.",
    ]
    assert split_sentences('"No." Cass was superstitious.', "en") == [
        '"No."',
        "Cass was superstitious.",
    ]


def test_english_decimals_and_lower_case_continuations():
    text = (
        "Gold, surely! It weighed 3.14 ounces, or 0.2 lb. in all. "
        "But, wonderful to relate, not a fragment."
    )
    assert split_sentences(text, "en") == [
        "Gold, surely!",
        "It weighed 3.14 ounces, or 0.2 lb. in all.",
        "But, wonderful to relate, not a fragment.",
    ]
    # a sentence end needs an upper-case letter, digit or opening quote/bracket next
    text = "A fallen star, I am, sir!' continued he. 1926 was a year. (It was.)"
    assert split_sentences(text, "en") == [
        "A fallen star, I am, sir!' continued he.",
        "1926 was a year.",
        "(It was.)",
    ]


def test_english_without_punctuation_stays_one_sentence(news):
    text = news["63903007"]
    assert split_sentences(text) == [text]


# --- language choice -------------------------------------------------------------------------


def test_auto_chooses_rules_per_paragraph(bert_docs, wiki):
    english = " ".join(bert_docs[1][6:8])  # "This was nearly opposite. Mr. Cassius crossed ..."
    chinese = "雄鹿肩高132厘米，重170-180公斤。鹿角在弯前长75厘米，周围长13厘米。"
    assert chinese in wiki["100026"]
    assert split_sentences(english + "\n" + chinese) == [
        "This was nearly opposite.",
        "Mr. Cassius crossed the highway, and stopped suddenly.",
        "雄鹿肩高132厘米，重170-180公斤。",
        "鹿角在弯前长75厘米，周围长13厘米。",
    ]
    # forced rules: the Chinese ones never split at a single "."; 。 ends a sentence in both
    assert split_sentences(english, "zh") == [english]
    assert split_sentences(chinese, "en") == ["雄鹿肩高132厘米，重170-180公斤。", "鹿角在弯前长75厘米，周围长13厘米。"]


def test_mixed_paragraph_below_the_cjk_threshold(wiki):
    # a Chinese paragraph with a long English track list: CJK ratio 0.18, so the English rules
    # apply; 。 still ends sentences, and so does ! right before a CJK character
    paragraph = wiki["100453"].split("\n")[2]
    assert 0.1 < cjk_ratio(paragraph) < 0.3
    expected = [
        "铺轨（Making Tracks）是一出由亚洲人演出的美国音乐剧，在美国也有一定的名声。",
        "主演员为杨呈伟，后来有发行CD，并更换部分演唱者。",
        "1.MAKING TRACKS2.MANY RIVERS3.THIS IS OUR DAY4.PICTURE PERFECT5.SO NOW I SEE YOU"
        "6.MEI GUO7.DANCE THE WORLD AWAY8.SHIKATAGANAI9.STARS10.THE LUCKY ONE11.I WILL WALK AWAY"
        "12.SATELLITE13.MUST BE THE MUSIC14.WINGS LIKE A DOVE",
    ]
    assert both(paragraph) == expected
    exclaimed = paragraph.replace("名声。主演员", "名声!主演员")
    assert split_sentences(exclaimed)[:2] == [expected[0][:-1] + "!", expected[1]]


def test_unknown_lang():
    with pytest.raises(ValueError, match="lang must be one of"):
        split_sentences("沼鹿", lang="ja")


def test_detected_languages_choose_the_rules_over_the_cjk_ratio():
    # a real Chinese wiki sentence pair rich in Latin names (CJK ratio 0.5): the two rule sets differ on it
    p = ("随后，McBer & Company公司（现在已改名为Hay Group）当时的合伙人Richard Boyatzis和T.F. Gilbert等人将胜任力的"
         "概念与绩效提升关联起来使用，从而使胜任力的概念真正流行起来。A. J. Apponi与Barry Turner借助国际科学基金会的望远镜")
    zh, en = split_sentences(p, "zh"), split_sentences(p, "en")
    assert zh != en
    assert split_sentences(p, paragraph_languages=["zh"]) == zh == split_sentences(p, paragraph_languages=["ja"])
    assert split_sentences(p, paragraph_languages=["en"]) == en == split_sentences(p, paragraph_languages=["fr"])
    assert split_sentences(p, paragraph_languages=["un"]) == split_sentences(p)  # unknown: the CJK ratio decides
    two = p + "\n\n" + p
    assert split_sentences(two, paragraph_languages=["en", "un", "zh"]) == en + zh
    with pytest.raises(ValueError, match="2 paragraph languages for 3 lines"):
        split_sentences(two, paragraph_languages=["en", "zh"])
