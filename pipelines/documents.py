"""documents: raw corpora -> cleaned, sentence-split documents {doc_id, source, title, sentences}.

    python -m corpusforge.pipelines.documents --input CORPUS... --output OUT [options] [Beam options]
    corpusforge build documents  (the same command)
    corpusforge build dedup -i DOCUMENTS -o OUT  (near-duplicate removal over a documents dataset)
"""
from __future__ import annotations

import sys

import click

from corpusforge.dataset.reader import read_manifest
from corpusforge.dataset.schema import DOCUMENTS, DOCUMENTS_LANGUAGE
from corpusforge.text.minhash import SHINGLES, candidate_probability
from corpusforge.pipelines.beamjob import BEAM_HELP, _stack, input_options, output_options, prepare_job, resume_option, run_job
from corpusforge.pipelines.command import COMMAND, temporary_dir


def build_documents(pipeline, source: DocumentInput, output: str, num_shards: int, params: dict, tmp=None,
                    markers=None, near=None):
    """The documents graph: ReadCorpus -> PrepareDocuments [-> NearDedup] [-> WriteExamples] -> WriteDataset."""
    import apache_beam as beam
    from corpusforge.beam.read import ReadDocuments
    from corpusforge.beam.sink import WriteDataset
    docs = pipeline | "ReadDocuments" >> ReadDocuments(source)
    cleaning = near is not None or source.prepare.cleaning
    if cleaning:
        tmp = tmp or temporary_dir(output)  # near_duplicates.jsonl and filtered_examples.jsonl go into it
    if near is not None:
        from corpusforge.beam.neardedup import NearDedup

        docs = docs | "NearDedup" >> NearDedup(near, tmp)
    if cleaning:
        from corpusforge.beam.cleaning import WriteExamples

        examples = docs["examples"] | "WriteExamples" >> WriteExamples(tmp)
        files = (docs["files"], examples) if "files" in docs else (examples,)
        docs = {**docs, "files": files | "CleaningFiles" >> beam.Flatten()}
    return docs | "WriteDataset" >> WriteDataset(output, "documents", documents_schema(source), num_shards, params,
                                                 dedup=source.prepare.dedup, tmp=tmp, markers=markers)


def documents_schema(source: DocumentInput):
    """DOCUMENTS, or DOCUMENTS_LANGUAGE with --lang-filter or when the input datasets have the language columns."""
    if source.prepare.language_columns:
        return DOCUMENTS_LANGUAGE
    if source.datasets and all("language" in read_manifest(d).get("schema", {}) for d in source.datasets):
        return DOCUMENTS_LANGUAGE
    return DOCUMENTS


def run_near(job, opts) -> None:
    """run_job; a cluster that did not converge (raised in a worker, which the runner may re-raise as
    text) ends the command with its one sentence."""
    import re

    try:
        run_job(job, lambda p: build_documents(p, job.source, job.output, job.num_shards, job.params, job.tmp,
                                               job.markers, opts))
    except Exception as e:
        from corpusforge.beam.neardedup import NOT_CONVERGED

        found = re.search(re.escape(NOT_CONVERGED) + r"[^;]*; [^\n'\]\[]*", str(e))
        if opts is None or not found:
            raise
        raise click.ClickException(found.group(0).rstrip() + "; nothing was written") from None


def _curve(bands: int, rows: int) -> str:
    return ", ".join(f"{j}: {candidate_probability(j, bands, rows):.3f}" for j in (0.3, 0.5, 0.7, 0.8, 0.9))


NEAR_PARAMS = ("near_dedup", "near_threshold", "shingle", "shingle_size", "num_perm", "bands")
near_dedup_options = _stack(
    click.option("--near-dedup/--no-near-dedup", default=False, show_default=True,
                 help="Drop near-duplicates (MinHash + LSH, then connected components), keeping the smallest "
                      "doc_id of each cluster; OUT/near_duplicates.jsonl lists each dropped doc_id with the "
                      "kept_doc_id (filtered as near_duplicate)."),
    click.option("--near-threshold", type=click.FloatRange(0, 1, min_open=True), default=0.8, show_default=True,
                 help="Estimated Jaccard similarity (share of equal MinHash values) at which two documents are "
                      "near-duplicates."),
    click.option("--shingle", type=click.Choice(SHINGLES), default="auto", show_default=True,
                 help="Shingles: character n-grams (chars), word n-grams (words), or auto: chars for a document "
                      "at least half CJK, else words; lower-cased, whitespace and punctuation dropped."),
    click.option("--shingle-size", type=click.IntRange(1, 64), default=5, show_default=True,
                 help="n of the shingle n-grams."),
    click.option("--num-perm", type=click.IntRange(8, 1024), default=128, show_default=True,
                 help="MinHash permutations (signature length)."),
    click.option("--bands", type=click.IntRange(1, 1024), default=18, show_default=True,
                 help="LSH bands of num-perm // bands rows each (the rest are used only to verify). Documents "
                      "sharing a band are candidates, with P = 1 - (1 - J^rows)^bands; 18 x 7 at Jaccard J "
                      f"{_curve(18, 7)} (16 x 8: {_curve(16, 8)})."),
)


def near_options(kw: dict):
    """Pops the near-dedup options from kw; NearDedupOptions, or None when --near-dedup is off."""
    near = {k: kw.pop(k) for k in NEAR_PARAMS}
    if not near["near_dedup"]:
        return None, {}
    if near["bands"] > near["num_perm"]:
        raise click.UsageError(f"--bands {near['bands']} is more than --num-perm {near['num_perm']}; "
                               "each band needs at least one row")
    from corpusforge.beam.neardedup import NearDedupOptions

    return NearDedupOptions(near["near_threshold"], near["num_perm"], near["bands"], near["shingle"],
                            near["shingle_size"]), near


@click.command(**COMMAND, epilog=BEAM_HELP)
@input_options
@near_dedup_options
@output_options
@resume_option
def main(**kw):
    """Build a documents dataset: raw corpora -> cleaned, sentence-split documents.

    Columns: doc_id, source, title, sentences (list of strings); with --lang-filter also language (CLD2 code)
    and language_score (its share of the text). With --lang-filter, --quality or --near-dedup, OUT holds
    filtered_examples.jsonl (a few filtered documents per reason) for `corpusforge inspect OUT --report`.
    """
    opts, near = near_options(kw)
    job = prepare_job(kw)
    if job.source.datasets:
        raise click.ClickException("build documents reads raw corpora; its --input is already a documents dataset "
                                   "(corpusforge build dedup removes near-duplicates from one)")
    job.params["kind"] = "documents"
    job.params.update(near)  # only with --near-dedup: without it the manifest is unchanged
    run_near(job, opts)


@click.command(**COMMAND, epilog=BEAM_HELP)
@input_options
@near_dedup_options
@output_options
def dedup(**kw):
    """Remove near-duplicates from documents datasets (or raw corpora): --near-dedup is on here.

    The output is a documents dataset; OUT/near_duplicates.jsonl lists each dropped doc_id with the kept one.
    """
    kw["near_dedup"] = True
    opts, near = near_options(kw)
    job = prepare_job(kw)
    if job.source.datasets and job.source.prepare.cleaning:
        raise click.ClickException("a documents dataset is not cleaned again: --lang-filter and --quality apply to "
                                   "raw corpora (build documents, or build dedup over raw files)")
    job.params["kind"] = "documents"
    job.params.update(near)
    run_near(job, opts)


if __name__ == "__main__":
    sys.exit(main())
