from corpusforge.text import content_hash, normalize_text, split_sentences


def _sentences(text):
    return split_sentences(normalize_text(text))


def test_digest_is_blake2b_128_of_the_joined_sentences():
    # the digests coreutils' `b2sum -l 128` prints for the same bytes (the sentences joined by "\n")
    assert content_hash(["雄鹿肩高132厘米。", "重170-180公斤。"]).hex() == "8b286b5f9577d0e7169c67991ad27213"
    assert content_hash(["沼鹿"]).hex() == "bf4979523a9266c161ca77cb91e16643"
    assert content_hash([]).hex() == "cae66941d9efbd404e4d88758ea67670"


def test_exact_duplicates_collide_after_normalisation(wiki):
    raw = wiki["100213"]
    # the same article with a BOM, Windows line breaks, trailing blanks, zero-width spaces
    noisy = "\ufeff" + raw.replace("\n", " \t\r\n").replace("。", "。\u200b")
    assert noisy != raw
    assert content_hash(_sentences(noisy)) == content_hash(_sentences(raw))
    # full-width vs half-width forms of the same text
    full_width = _sentences("宋代姚铉（９６７～１０２０）编。")
    assert content_hash(full_width) == content_hash(_sentences("宋代姚铉(967~1020)编。"))


def test_different_documents_differ(wiki, news):
    digests = {content_hash(_sentences(t)) for t in [*wiki.values(), *news.values()]}
    assert len(digests) == len(wiki) + len(news)
    sentences = _sentences(wiki["100026"])
    assert content_hash(sentences) != content_hash(sentences[:-1])
    assert content_hash(sentences) != content_hash(sentences[::-1])


def test_sentence_boundaries_count():
    assert content_hash(["雄鹿肩高132厘米。", "重170-180公斤。"]) != content_hash(["雄鹿肩高132厘米。重170-180公斤。"])
    assert content_hash(["ab", "c"]) != content_hash(["a", "bc"])
