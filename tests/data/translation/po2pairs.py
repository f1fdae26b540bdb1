"""Django's zh_Hans catalogs -> translation2019zh lines: plain singular messages that are sentences."""
import ast, json, re, sys

def entries(path):
    block = []
    for line in open(path, encoding="utf-8").read().split("\n") + [""]:
        if line.strip():
            block.append(line)
        elif block:
            yield block
            block = []

def parse(block):
    if any(l.startswith("#,") and "fuzzy" in l for l in block):
        return None
    fields, cur = {}, None
    for l in block:
        if l.startswith("#"):
            continue
        m = re.match(r'(msgctxt|msgid_plural|msgid|msgstr(?:\[\d\])?) (".*")$', l)
        if m:
            cur = m.group(1); fields[cur] = ast.literal_eval(m.group(2))
        elif l.startswith('"') and cur:
            fields[cur] += ast.literal_eval(l)
    if "msgid_plural" in fields or not fields.get("msgid") or not fields.get("msgstr"):
        return None
    return fields["msgid"], fields["msgstr"]

if __name__ == "__main__":
    out = []
    for path in sys.argv[1:]:
        for b in entries(path):
            p = parse(b)
            if not p:
                continue
            en, zh = p
            if re.search(r"%|\{|<|\n|\\\\", en + zh) or len(en) < 25 or " " not in en:
                continue
            out.append({"english": en, "chinese": zh})
    for row in out:
        print(json.dumps(row, ensure_ascii=False))
