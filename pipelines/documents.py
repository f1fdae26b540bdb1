"""documents: raw corpora -> cleaned, sentence-split documents {doc_id, source, title, sentences}.

    python -m pipelines.documents --input CORPUS... --output OUT [options] [Beam options]
    corpusforge build documents  (the same command)
"""
from __future__ import annotations

import sys

import click

from corpusforge.beam.read import DocumentInput, ReadDocuments
from corpusforge.beam.sink import WriteDataset
from corpusforge.dataset.schema import DOCUMENTS
from pipelines.beamjob import BEAM_HELP, input_options, output_options, prepare_job, resume_option, run_job
from pipelines.command import COMMAND


def build_documents(pipeline, source: DocumentInput, output: str, num_shards: int, params: dict, tmp=None,
                    markers=None):
    """The documents graph: ReadCorpus -> PrepareDocuments -> WriteDataset."""
    docs = pipeline | "ReadDocuments" >> ReadDocuments(source)
    return docs | "WriteDataset" >> WriteDataset(output, "documents", DOCUMENTS, num_shards, params,
                                                 dedup=source.prepare.dedup, tmp=tmp, markers=markers)


@click.command(**COMMAND, epilog=BEAM_HELP)
@input_options
@output_options
@resume_option
def main(**kw):
    """Build a documents dataset: raw corpora -> cleaned, sentence-split documents.

    Columns: doc_id, source, title, sentences (list of strings).
    """
    job = prepare_job(kw)
    if job.source.datasets:
        raise click.ClickException("build documents reads raw corpora; its --input is already a documents dataset")
    job.params["kind"] = "documents"
    run_job(job, lambda p: build_documents(p, job.source, job.output, job.num_shards, job.params, job.tmp,
                                           job.markers))


if __name__ == "__main__":
    sys.exit(main())
