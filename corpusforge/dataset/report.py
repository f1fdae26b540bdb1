"""The cleaning report of a documents dataset (`corpusforge inspect OUT --report`): report.md and PNGs.

Everything comes from the dataset: the manifest's accounting (filtered_by_reason, and filtered_by_source
when a cleaning option was on), the shards (kept documents per source, their language), near_duplicates.jsonl
(cluster sizes) and filtered_examples.jsonl (a few filtered documents per reason). No Beam.
"""
from __future__ import annotations

import io
import json
import os
from collections import Counter

from corpusforge.dataset.reader import DatasetError, dataset_file, open_shard, read_manifest, shard_paths

REPORT_FILES = ("report.md", "removed_by_rule.png", "by_source.png", "cluster_sizes.png", "languages.png")
LANGUAGE_SAMPLE = 10_000  # documents CLD2 labels when the dataset has no language column (rows are in seeded order)
EXAMPLE_LINES, EXAMPLE_LINE_CHARS = 3, 160


def _named_file(directory: str, manifest: dict, name: str) -> str | None:
    """The path of a file the manifest names (checked to stay inside the dataset), or None."""
    if not any(f.get("file") == name for f in manifest.get("files", [])):
        return None
    return dataset_file(directory, name)


def _jsonl(path: str | None, fields: tuple) -> list[dict]:
    """The rows of a JSON-lines file the build wrote; DatasetError (one sentence) if it was damaged since."""
    if path is None:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path} is not the JSON lines the build wrote ({e}); corpusforge verify checks it") from None
    if not all(isinstance(r, dict) and all(isinstance(r.get(k), str) for k in fields) for r in rows):
        raise DatasetError(f"{path} has rows without the string fields {', '.join(fields)}; corpusforge verify checks it")
    return rows


def gather(directory: str) -> dict:
    """The numbers the report shows, as plain data."""
    manifest = read_manifest(directory)
    if manifest.get("kind") != "documents":
        raise DatasetError(f"{directory} is a {manifest.get('kind')} dataset; the cleaning report is of documents "
                           "datasets")
    kept_by_source: Counter = Counter()
    languages: Counter = Counter()
    language_chars: Counter = Counter()
    labelled = 0
    has_language = "language" in manifest.get("schema", {})
    for path in shard_paths(directory, manifest):
        table = open_shard(path)
        kept_by_source.update(table.column("source").to_pylist())
        if has_language:
            codes = table.column("language").to_pylist()
            languages.update(codes)
            for code, sentences in zip(codes, table.column("sentences").to_pylist()):
                language_chars[code] += sum(map(len, sentences))
            labelled += len(codes)
        elif labelled < LANGUAGE_SAMPLE:
            from corpusforge.text.langid import detect_language

            for sentences in table.column("sentences").slice(0, LANGUAGE_SAMPLE - labelled).to_pylist():
                text = "\n".join(sentences)
                code = detect_language(text)[0]
                languages[code] += 1
                language_chars[code] += len(text) - len(sentences) + 1
                labelled += 1
    near = _jsonl(_named_file(directory, manifest, "near_duplicates.jsonl"), ("doc_id", "kept_doc_id"))
    cluster = Counter(r["kept_doc_id"] for r in near)
    sizes = Counter(n + 1 for n in cluster.values())  # the kept document and those dropped for it
    examples: dict[str, list] = {}
    for r in _jsonl(_named_file(directory, manifest, "filtered_examples.jsonl"), ("reason", "doc_id", "source", "excerpt")):
        examples.setdefault(r["reason"], []).append(r)
    return {"name": os.path.basename(os.path.abspath(directory)), "input": manifest["input"],
            "rejected_by_reason": manifest["input"].get("rejected_by_reason", {}),
            "filtered_by_source": manifest.get("filtered_by_source"), "kept_by_source": dict(sorted(kept_by_source.items())),
            "languages": dict(languages.most_common()), "language_chars": dict(language_chars),
            "language_column": has_language, "labelled": labelled, "rows": manifest["rows"],
            "near_duplicates": bool(near) or _named_file(directory, manifest, "near_duplicates.jsonl") is not None,
            "cluster_sizes": dict(sorted(sizes.items())), "examples": examples, "params": manifest.get("params", {})}


def draw(data: dict) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    def png(fig) -> bytes:
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        return buf.getvalue()

    acc = data["input"]
    out = {}
    removed = {**acc["filtered_by_reason"], **{f"rejected: {k}": v for k, v in acc["rejected_by_reason"].items()}}
    bars = [("kept", acc["kept"]), *sorted(removed.items(), key=lambda kv: -kv[1])]
    fig, ax = plt.subplots(figsize=(7, max(2.6, 0.9 + 0.32 * len(bars))))
    ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1],
            color=(["tab:red"] * len(removed) + ["tab:green"]))
    for y, (_, n) in enumerate(bars[::-1]):
        ax.text(n, y, f" {n:,} ({n / max(acc['read'], 1):.1%})", va="center", fontsize=8)
    ax.set(xlabel=f"documents (of {acc['read']:,} read)", title="Kept and removed, by rule")
    ax.margins(x=0.25)
    out["removed_by_rule.png"] = png(fig)

    by_source = data["filtered_by_source"] or {}
    sources = sorted(set(data["kept_by_source"]) | set(by_source))
    reasons = sorted({r for s in by_source.values() for r in s})
    fig, ax = plt.subplots(figsize=(9, max(2.8, 1.2 + 0.45 * len(sources), 0.6 + 0.2 * len(reasons))))
    left = [0] * len(sources)
    colors = plt.get_cmap("tab20").colors
    for i, (label, values) in enumerate([("kept", [data["kept_by_source"].get(s, 0) for s in sources]),
                                         *[(r, [by_source.get(s, {}).get(r, 0) for s in sources]) for r in reasons]]):
        ax.barh(sources, values, left=left, label=label,
                color="tab:green" if i == 0 else [c for c in colors if c != colors[4]][(i - 1) % 19])
        left = [a + b for a, b in zip(left, values)]
    ax.set(xlabel="documents", title="Kept and removed, by source" +
           ("" if by_source else " (removals per source not recorded)"))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    out["by_source.png"] = png(fig)

    sizes = data["cluster_sizes"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    if sizes:
        bars = ax.bar([str(k) for k in sizes], list(sizes.values()), color="tab:purple")
        ax.bar_label(bars, fontsize=8)
        if max(sizes.values()) > 50 * min(sizes.values()):  # a long tail of large clusters stays visible
            ax.set_yscale("log")
        else:
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    else:
        ax.set(xticks=[], yticks=[])
        ax.text(0.5, 0.5, "no near-duplicate clusters" if data["near_duplicates"] else "built without --near-dedup",
                ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="cluster size (documents)", ylabel="clusters",
           title="Near-duplicate clusters (kept document + removed)")
    out["cluster_sizes.png"] = png(fig)

    langs = list(data["languages"].items())[:15]
    fig, ax = plt.subplots(figsize=(6, max(2.6, 1 + 0.35 * len(langs))))
    total = max(data["labelled"], 1)
    ax.barh([c for c, _ in langs][::-1], [n / total for _, n in langs][::-1], color="tab:blue")
    for y, (_, n) in enumerate(langs[::-1]):
        ax.text(n / total, y, f" {n / total:.1%}", va="center", fontsize=8)
    ax.set(xlabel="share of kept documents", xlim=(0, 1.15),
           title="Languages of the kept documents" + ("" if data["language_column"] else " (CLD2 on a sample)"))
    out["languages.png"] = png(fig)
    return out


def _excerpt(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()][:EXAMPLE_LINES]
    clean = ["".join(c if c.isprintable() else " " for c in line) for line in lines]
    return [line if len(line) <= EXAMPLE_LINE_CHARS else line[:EXAMPLE_LINE_CHARS - 1] + "…" for line in clean]


def markdown(data: dict) -> str:
    acc = data["input"]
    read = max(acc["read"], 1)
    md = [f"# Cleaning report: {data['name']}\n",
          f"read {acc['read']:,} = kept {acc['kept']:,} + filtered {acc['filtered']:,} + rejected {acc['rejected']:,}\n",
          "| rule (filtered reason) | documents | share of read |", "|---|---:|---:|"]
    for reason, n in sorted(acc["filtered_by_reason"].items(), key=lambda kv: -kv[1]):
        md.append(f"| {reason} | {n:,} | {n / read:.2%} |")
    for reason, n in sorted(acc["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
        md.append(f"| rejected: {reason} | {n:,} | {n / read:.2%} |")
    md += ["", "![removed by rule](removed_by_rule.png)", "", "## By source", ""]
    by_source = data["filtered_by_source"]
    reasons = sorted({r for s in (by_source or {}).values() for r in s})
    md += ["| source | kept | " + " | ".join(reasons) + (" |" if reasons else ""),
           "|---|---:|" + "---:|" * len(reasons)]
    for source in sorted(set(data["kept_by_source"]) | set(by_source or {})):
        md.append(f"| {source} | {data['kept_by_source'].get(source, 0):,} | " +
                  " | ".join(f"{(by_source or {}).get(source, {}).get(r, 0):,}" for r in reasons) +
                  (" |" if reasons else ""))
    if by_source is None:
        md.append("\nRemovals per source are recorded by builds with --lang-filter, --quality or --near-dedup.")
    else:
        md.append("\nExact duplicates (duplicate) are dropped when the shards are written and are not counted per "
                  "source.")
    md += ["", "![by source](by_source.png)", "", "## Near-duplicate clusters", ""]
    sizes = data["cluster_sizes"]
    if sizes:
        md += [f"{sum(sizes.values()):,} clusters, {sum((k - 1) * v for k, v in sizes.items()):,} documents removed "
               f"(largest cluster {max(sizes)})", "", "| size | clusters |", "|---:|---:|",
               *[f"| {k} | {v:,} |" for k, v in sizes.items()]]
    else:
        md.append("none found" if data["near_duplicates"] else "built without --near-dedup")
    md += ["", "![cluster sizes](cluster_sizes.png)", "", "## Languages of the kept documents", ""]
    how = ("the dataset's language column" if data["language_column"] else
           f"CLD2 on the first {data['labelled']:,} of {data['rows']:,} documents (rows are in seeded random order)")
    md += [f"From {how}.", "", "| language | documents | share | characters |", "|---|---:|---:|---:|"]
    for code, n in data["languages"].items():
        md.append(f"| {code} | {n:,} | {n / max(data['labelled'], 1):.1%} | {data['language_chars'].get(code, 0):,} |")
    md += ["", "![languages](languages.png)", "", "## Examples of removed text", ""]
    if not data["examples"]:
        md.append("No examples recorded (builds with --lang-filter, --quality or --near-dedup record a few per rule).")
    for reason, rows in sorted(data["examples"].items()):
        md += [f"### {reason}", ""]
        for r in rows:
            md.append(f"- `{r['doc_id'].replace('`', chr(39))}` ({r['source']}):")
            md += [""] + [f"      {line}" for line in _excerpt(r["excerpt"])] + [""]
    return "\n".join(md) + "\n"


def default_dir(directory: str) -> str:
    """OUT-report beside the dataset: inside it, verify would find files the manifest does not name."""
    return os.path.abspath(directory).rstrip("/") + "-report"


def write_report(directory: str, out_dir: str, overwrite: bool = False) -> list[str]:
    """Writes report.md and the PNGs into out_dir (created). Refuses (DatasetError) a directory inside the
    dataset, and, without overwrite, one that already holds a report file."""
    real, inside = os.path.realpath(out_dir), os.path.realpath(directory)
    if os.path.commonpath([real, inside]) == inside:
        raise DatasetError(f"the report directory {out_dir} is inside the dataset {directory}; write it elsewhere")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DatasetError(f"the report directory {out_dir} exists and is not a directory")
    there = [n for n in REPORT_FILES if os.path.lexists(os.path.join(out_dir, n))]
    if there and not overwrite:
        raise DatasetError(f"{os.path.join(out_dir, there[0])} already exists; pass --overwrite to replace the report")
    data = gather(directory)
    files = {**draw(data), "report.md": markdown(data).encode()}
    os.makedirs(out_dir, exist_ok=True)
    for name, content in files.items():
        target = os.path.join(out_dir, name)
        if os.path.islink(target) or (os.path.lexists(target) and not os.path.isfile(target)):
            raise DatasetError(f"{target} is not a regular file; refusing to replace it")
        tmp = os.path.join(out_dir, f".{name}.incomplete-{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
    return [os.path.join(out_dir, n) for n in REPORT_FILES]
