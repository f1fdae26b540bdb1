"""What every Beam build command shares: input/output options, validation, running, reporting.

Launcher-side only (click); Beam workers never import this module. What needs no Beam is in
corpusforge.pipelines.command, so build lm and eval lm start without importing Apache Beam.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass

import click

from corpusforge import __version__
from corpusforge.dataset.empty import DEFAULT_MAX_REJECT_SHARE, warn_rejects
from corpusforge.dataset.reader import DatasetError, is_dataset, read_manifest, shard_paths
from corpusforge.errors import BadInput, BadOption
from corpusforge.pipelines.command import PATH_OPTIONS, check_output, configure_logging, resume_dir, temporary_dir
from corpusforge.sources.files import InputError, expand_inputs, split_bytes_for
from corpusforge.sources.formats import FORMAT_NAMES, ReadOptions
from corpusforge.text import DocumentFilter
from corpusforge.text.langid import LANG_SCOPES, LanguageFilter
from corpusforge.text.quality import RULES, parse_quality

SHARD_INPUT_BYTES = 64 << 20  # default: one output shard per this much input (bounds merge memory)
BEAM_HELP = ("Any further --flags are Apache Beam pipeline options (--runner, --direct_num_workers=2, "
             "--direct_running_mode=multi_processing, --temp_location, ...); without --runner the in-process "
             "FnApiRunner runs the job.")

log = logging.getLogger("corpusforge")


def _stack(*decorators):
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def _text_encoding(ctx, param, value: str) -> str:
    try:
        b"a".decode(value, "ignore")  # LookupError for unknown codecs and for non-text ones (base64, rot13)
    except LookupError:
        raise click.BadParameter(f"{value!r} is not a text encoding Python knows (e.g. gbk, gb18030, utf-16, big5)") from None
    return value


def _languages(ctx, param, value: str) -> tuple:
    from corpusforge.text.langid import LANGUAGE_CODES

    codes = tuple(sorted({c.strip().lower() for c in value.split(",") if c.strip()}))
    unknown = [c for c in codes if c not in LANGUAGE_CODES]
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not a language code CLD2 knows (e.g. zh, en, ja, ko, fr)")
    return codes


input_options = _stack(
    click.option("--input", "-i", "inputs", multiple=True, required=True,
                 help="File, directory (walked recursively; README/LICENSE/hidden files skipped) or glob; "
                      ".gz/.bz2/.zip are read transparently. Repeat for several."),
    click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="auto", show_default=True,
                 help="Raw layout; auto detects it per file from its fields (wiki2019zh: id/url/title/text, "
                      "news2016zh: news_id, ...), else plain text."),
    click.option("--text-field", default="text", show_default=True, help="jsonl/parquet: the field holding the text."),
    click.option("--title-field", default=None, help="jsonl/parquet: the field holding the title (optional)."),
    click.option("--side", type=click.Choice(["chinese", "english", "pair"]), default="chinese", show_default=True,
                 help="translation2019zh: which side of each pair is the document; pair: both, one document of "
                      "two sentences (Chinese, English) per pair, for build pretraining --mode translation / tlm."),
    click.option("--encoding", default="utf-8", show_default=True, callback=_text_encoding,
                 help="Encoding of the raw text files (gbk, gb18030, utf-16, big5, ...); a file that is not "
                      "UTF-8 is otherwise rejected as not_utf8 with the encoding detected."),
    click.option("--max-record-mb", type=click.FloatRange(min=0.001), default=16.0, show_default=True,
                 help="Reject any single record (JSON line, document) larger than this."),
    # none by default: NFKC would rewrite characters a vocabulary holds (bert-base-chinese's ，：？ are
    # 8024, 8038, 8043; NFKC makes them ,:? 117, 131, 136), and a documents dataset knows no vocabulary
    click.option("--normalize", type=click.Choice(["none", "NFKC"], case_sensitive=False), default="none",
                 show_default=True, help="none: only the cleaning (control and zero-width characters, spaces, "
                                         "line breaks), so a tokenizer sees the text as written; NFKC also maps "
                                         "full-width to half-width (，-> ,), which changes the ids of vocabularies "
                                         "holding full-width forms, such as bert-base-chinese's."),
    click.option("--t2s/--no-t2s", default=False, show_default=True,
                 help="Convert traditional to simplified Chinese (OpenCC t2s)."),
    click.option("--lang", type=click.Choice(["auto", "zh", "en"]), default="auto", show_default=True,
                 help="Sentence splitting rules; auto chooses per paragraph by its share of CJK characters."),
    click.option("--min-chars", type=click.IntRange(min=0), default=10, show_default=True,
                 help="Drop documents with fewer characters."),
    click.option("--max-chars", type=click.IntRange(min=1), default=1_000_000, show_default=True,
                 help="Drop documents with more characters."),
    click.option("--min-sentences", type=click.IntRange(min=0), default=1, show_default=True,
                 help="Drop documents with fewer sentences."),
    click.option("--min-cjk-ratio", type=click.FloatRange(0, 1), default=0.0, show_default=True,
                 help="Drop documents whose share of CJK characters is lower (0.5 keeps Chinese text only)."),
    click.option("--dedup/--no-dedup", default=True, show_default=True,
                 help="Drop exact duplicates (same sentences after normalisation), keeping one."),
    click.option("--lang-filter", default="", callback=_languages, metavar="CODES",
                 help="Keep only documents in these languages (comma-separated CLD2 codes, e.g. zh,en; zh "
                      "includes traditional Chinese); others are filtered as wrong_language. Off by default."),
    click.option("--lang-min-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                 help="--lang-filter: the confidence threshold, the least share of a document's (or paragraph's) "
                      "letters CLD2 must give its language."),
    click.option("--lang-scope", type=click.Choice(LANG_SCOPES), default="document", show_default=True,
                 help="--lang-filter: judge whole documents, or each paragraph (line), keeping the paragraphs in "
                      "the wanted languages (a paragraph too short for CLD2 to call takes the document's language); "
                      "with --lang-filter each paragraph is also split by the sentence rules of its language."),
    click.option("--quality", default="", metavar="RULES",
                 help="Quality rules to apply, comma-separated rule names or presets: gopher (Gopher's repetition "
                      "and quality rules), gopher-repetition, gopher-quality; the rules: " + ", ".join(RULES) +
                      ". A document breaking one is filtered with the rule's name as reason. Off by default "
                      "(README: the rules, their measures and defaults)."),
    click.option("--quality-threshold", multiple=True, metavar="RULE=VALUE",
                 help="Override one --quality rule's threshold, e.g. dup_line_frac=0.5; repeat for several."),
)

progress_option = click.option(
    "--progress/--no-progress", default=None,
    help="A progress line on stderr (share of the input read, rate, ETA) while the in-process runner works "
         "[default: when stderr is a terminal].")

output_options = _stack(
    click.option("--output", "-o", required=True, help="Dataset directory to create."),
    click.option("--overwrite", is_flag=True, help="Replace an existing dataset at --output."),
    click.option("--num-shards", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Output shards; 0 = one per 64 MiB of input."),
    click.option("--seed", type=int, default=12345, show_default=True, help="Seed of every random choice."),
    click.option("--allow-empty", is_flag=True, help="Write the dataset even if no record was kept (else an error)."),
    click.option("--max-reject-share", type=click.FloatRange(0, 1), default=DEFAULT_MAX_REJECT_SHARE,
                 show_default=True, help="Warn when a larger share of the records read is rejected."),
    progress_option,
    click.argument("beam_args", nargs=-1, type=click.UNPROCESSED),
)

resume_option = click.option(
    "--resume", is_flag=True,
    help="Continue a build of --output that was killed: what it finished is reused (shards; for pretraining its "
         "buckets, for ngrams, stats and cooccurrence the merged ranges, and once all of it was written everything "
         "read, tokenized or counted before them; for vocab the sample and the trained files), the rest is built; "
         "the dataset is the one an undisturbed build makes. Refused if the killed build had other inputs or options.")

INPUT_PARAMS = ("inputs", "fmt", "text_field", "title_field", "side", "encoding", "max_record_mb", "normalize", "t2s", "lang",
                "min_chars", "max_chars", "min_sentences", "min_cjk_ratio", "dedup", "lang_filter", "lang_min_share",
                "lang_scope", "quality", "quality_threshold")


@dataclass
class Job:
    """A validated command line: Beam options, the input, and the parameters for the manifest."""

    options: object
    source: DocumentInput
    output: str
    num_shards: int
    seed: int
    params: dict
    input_bytes: int
    resume: bool | None = None  # None: the command has no --resume
    tmp: str | None = None  # the temporary directory, set by run_job (start_temporary)
    markers: Markers | None = None  # completion markers (local outputs), set by run_job
    result: object = None  # the finished PipelineResult and the run's seconds, set by run_job
    seconds: float = 0.0
    progress: bool | None = None  # --progress / --no-progress; None: when stderr is a terminal


def check_runner(name) -> None:
    """An unknown --runner fails here, before any work, not when the pipeline runs."""
    from apache_beam.options.pipeline_options import StandardOptions
    from corpusforge.beam.runner import BeamArgsError
    if not name or not isinstance(name, str):
        return
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except (ValueError, ImportError, AttributeError) as e:
        known = ", ".join(StandardOptions.KNOWN_RUNNER_NAMES)
        detail = f" ({e})" if isinstance(e, ImportError) else ""
        raise BeamArgsError(f"--runner {name} is not an Apache Beam runner{detail}; use one of {known} or a "
                            "PipelineRunner subclass's full module.Class name") from None


def prepare_job(kw: dict, *, kinds: tuple = ("documents",)) -> Job:
    """Validates everything before any work starts; raises ClickException with one sentence."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import StandardOptions
    from corpusforge.beam.prepare import PrepareOptions
    from corpusforge.beam.read import DocumentInput
    from corpusforge.beam.runner import BeamArgsError, pipeline_options
    configure_logging()
    try:
        options = pipeline_options(list(kw.pop("beam_args")))
        check_runner(options.view_as(StandardOptions).runner)
        datasets = [p.rstrip("/") for p in kw["inputs"] if is_dataset(p)]
        if datasets and len(datasets) != len(kw["inputs"]):
            raise InputError("give either documents datasets or raw files as --input, not both")
        files = [] if datasets else expand_inputs(list(kw["inputs"]))
    except BeamArgsError as e:
        raise BadOption(str(e)) from None
    except InputError as e:
        raise BadInput(str(e)) from None
    try:
        manifests = {d: read_manifest(d) for d in datasets}
        for d, m in manifests.items():  # each shard a regular file inside its dataset, before any work
            if "shards" in m:
                shard_paths(d, m)
    except DatasetError as e:
        raise BadInput(str(e)) from None
    found = {m["kind"] for m in manifests.values()}
    for kind in found:
        if kind not in kinds:
            raise BadInput(f"input {datasets[0]} is a {kind} dataset; give {' or '.join(kinds)} datasets or raw files")
    if len(found) > 1:
        raise BadInput(f"the input datasets are of different kinds ({', '.join(sorted(found))})")
    if kw["min_chars"] > kw["max_chars"]:
        raise BadOption(f"--min-chars {kw['min_chars']} is larger than --max-chars {kw['max_chars']}")
    globbed = [f.path for f in files] if any(c in p for p in kw["inputs"] for c in "*?[") else []
    resume = kw.pop("resume", None)  # None: the command has no --resume (no markers, no job.tmp)
    progress = kw.pop("progress", None)  # how the run looks, not what it builds: not a build parameter
    check_output(kw["output"], kw["overwrite"], [*kw["inputs"], *globbed], resume=bool(resume))
    normalize = "none" if kw["normalize"].lower() == "none" else kw["normalize"].upper()
    try:
        quality = parse_quality(kw["quality"], kw["quality_threshold"])
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if kw["lang_scope"] != "document" and not kw["lang_filter"]:
        raise click.UsageError("--lang-scope goes with --lang-filter")
    prep_opts = PrepareOptions(normalize=normalize, t2s=kw["t2s"], lang=kw["lang"], dedup=kw["dedup"], seed=kw["seed"],
                               filter=DocumentFilter(kw["min_chars"], kw["max_chars"], kw["min_sentences"],
                                                     kw["min_cjk_ratio"]),
                               language=LanguageFilter(kw["lang_filter"], kw["lang_min_share"], kw["lang_scope"]),
                               quality=quality)
    if datasets:
        input_bytes = sum(m.size_in_bytes for d in datasets for m in FileSystems.match([f"{d}/*.arrow"])[0].metadata_list)
    else:
        input_bytes = sum(f.size for f in files)
    read_opts = ReadOptions(fmt=kw["fmt"], text_field=kw["text_field"], title_field=kw["title_field"],
                            side=kw["side"], encoding=kw["encoding"], max_record_bytes=int(kw["max_record_mb"] * (1 << 20)),
                            split_bytes=split_bytes_for(input_bytes))
    num_shards = kw["num_shards"] or max(1, math.ceil(input_bytes / SHARD_INPUT_BYTES))
    params = {k: v for k, v in kw.items() if k not in ("overwrite", "output")}
    if not kw["lang_filter"]:  # unused: left out, so a build without it has the same manifest as before
        del params["lang_filter"], params["lang_min_share"], params["lang_scope"]
    else:
        params["lang_filter"] = list(kw["lang_filter"])
    del params["quality"], params["quality_threshold"]
    if quality.rules:  # the rules by name with their thresholds (presets resolved); absent without --quality
        params["quality"] = dict(quality.rules)
    params["inputs"] = list(kw["inputs"])
    params["num_shards"] = num_shards
    params["normalize"] = normalize
    params["format"] = params.pop("fmt")
    source = DocumentInput(files=files, datasets=[d if "://" in d else os.path.abspath(d) for d in datasets], read=read_opts,
                           prepare=prep_opts)
    return Job(options, source, kw["output"], num_shards, kw["seed"], params, input_bytes, resume, progress=progress)


def fingerprint(job: Job) -> dict:
    """What a build's output depends on: its options, each input file's size and modification time (a dataset
    input by its manifest), the files other options name, and corpusforge's version. JSON-normalised."""
    from apache_beam.io.filesystems import FileSystems
    def state(path):
        if "://" in path:
            meta = FileSystems.match([path])[0].metadata_list
            return [[m.size_in_bytes, m.last_updated_in_seconds] for m in meta]
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]

    keys = [k for k in (*PATH_OPTIONS, "tokenizer") if k != "inputs"]  # params name -t "tokenizer"
    named = [v for k in keys for v in [job.params.get(k)] if isinstance(v, str) and v]
    fp = {f"--{k.replace('_', '-')}": v for k, v in job.params.items()}
    fp.update({"corpusforge version": __version__,
               "input files": [[f.path, state(f.path)] for f in job.source.files],
               "input datasets": [[d, state(f"{d}/manifest.json")] for d in job.source.datasets],
               "files named by options": [[p, state(p)] for p in named if os.path.isfile(p)]})
    return json.loads(json.dumps(fp, sort_keys=True))


def start_temporary(job: Job) -> None:
    """job.tmp and job.markers: with --resume the killed run's temporary directory of the same fingerprint
    (corpusforge.pipelines.command.resume_dir; refused with one sentence if it had another), else a new one."""
    from corpusforge.beam.resume import Markers, fingerprint_digest, read_fingerprint, write_fingerprint
    if "://" in job.output:
        job.tmp = temporary_dir(job.output)
        return
    fp = fingerprint(job)
    job.tmp = resume_dir(job.output, fp, read_fingerprint) if job.resume else None
    if job.tmp:
        log.info("resuming from %s", job.tmp)
    else:
        if job.resume:
            log.info("no killed build of %s to resume: building it from the start", job.output)
        job.tmp = temporary_dir(job.output)
        write_fingerprint(job.tmp, fp)
    job.markers = Markers(job.tmp, fingerprint_digest(fp))


def run_job(job: Job, build, report: bool = True) -> dict:
    """Builds the graph with `build(pipeline)`, runs it, reports (unless not `report`: then the caller
    prints, with job.result and job.seconds, once its output is final). A failed run's temporary directory is
    removed when the command ends and releases the output's lock (corpusforge.pipelines.command.Lock)."""
    from corpusforge.beam.runner import make_pipeline
    log.info("%s: %.1f MB of input -> %s (%d shard(s))", job.params.get("kind", "build"), job.input_bytes / 1e6,
             job.output, job.num_shards)
    started = time.monotonic()
    if job.resume is not None:
        start_temporary(job)
    pipeline = make_pipeline(job.options)
    build(pipeline)
    with build_progress(job):
        result = pipeline.run()
        result.wait_until_finish()
    job.result, job.seconds = result, time.monotonic() - started
    if "://" in job.output:
        return {}
    manifest = read_manifest(job.output)
    if report:
        print_summary(manifest, job.output, job.seconds, job.input_bytes)
        print_data_movement(result, job.input_bytes)
    return manifest


@contextlib.contextmanager
def build_progress(job: Job):
    """The progress line around a pipeline's run, where one can be drawn: the in-process runner (its readers
    run in this process and feed it), asked for with --progress or stderr a terminal. Total: the input's bytes
    (raw files) or rows (datasets)."""
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.options.pipeline_options import DirectOptions

    wanted = sys.stderr.isatty() if job.progress is None else job.progress
    if not wanted:
        yield
        return
    if job.options.view_as(StandardOptions).runner or \
            job.options.view_as(DirectOptions).direct_running_mode == "multi_processing":
        if job.progress:
            log.warning("--progress: no progress line with --runner or multi_processing (the readers run in "
                        "other processes); the runner's own logs show progress")
        yield
        return
    from corpusforge.beam.counting import set_progress
    from corpusforge.cliutil import BuildProgress

    if job.source.datasets:
        bar = BuildProgress(sum(read_manifest(d).get("rows", 0) for d in job.source.datasets), "rows",
                            job.params.get("kind", "build"))
    else:
        bar = BuildProgress(job.input_bytes, "B", job.params.get("kind", "build"))
    set_progress(bar)
    ok = False
    try:
        yield
        ok = True
    finally:
        set_progress(None)
        bar.close(complete=ok)


def print_data_movement(result, input_bytes: int) -> None:
    """What moved between steps, from Beam metrics: spill bytes per input byte (rows travel in
    spill files; the Beam shuffle carries only their paths) and the largest key groups."""
    try:
        from apache_beam.metrics.metric import MetricsFilter

        metrics = result.metrics().query(MetricsFilter().with_namespace("corpusforge"))
    except Exception:  # a runner without metrics support
        return
    counters: dict = {}
    for m in metrics["counters"]:  # one result per step: sum them
        counters[m.key.metric.name] = counters.get(m.key.metric.name, 0) + (m.committed or m.attempted or 0)
    dists: dict = {}  # one result per step too (the rejects sink merges shards as well): combine them
    for m in metrics["distributions"]:
        d = m.committed or m.attempted
        if d and d.count:
            mx, total, count = dists.get(m.key.metric.name, (0, 0, 0))
            dists[m.key.metric.name] = (max(mx, d.max), total + d.sum, count + d.count)
    spilled = counters.get("spill_bytes", 0)
    if not spilled:
        return
    line = (f"  data movement: {spilled / 1e6:.1f} MB in {counters.get('spill_files', 0)} spill files "
            f"({spilled / max(input_bytes, 1):.2f} bytes per input byte; the Beam shuffle carries only file names)")
    for name, label in (("shard_group_bytes", "shard"), ("bucket_bytes", "bucket")):
        if name in dists:
            mx, total, count = dists[name]
            line += f"; largest {label} {mx / 1e6:.1f} MB (mean {total / count / 1e6:.1f} MB of {count})"
    click.echo(line)


def print_summary(manifest: dict, output: str, seconds: float, input_bytes: int) -> None:
    acc = manifest["input"]
    click.echo(f"wrote {output}: {manifest['rows']} rows in {len(manifest['shards'])} shard(s) "
               f"in {seconds:.1f} s ({input_bytes / 1e6 / max(seconds, 1e-9):.1f} MB/s of input)")
    print_accounting(acc, output)
    warn_rejects(manifest)


def print_accounting(acc: dict, output: str) -> None:
    """read = kept + filtered + rejected, with the reasons, for any build's manifest["input"]."""
    click.echo(f"  read {acc['read']} = kept {acc['kept']} + filtered {acc['filtered']} + rejected {acc['rejected']}")
    for what in ("filtered", "rejected"):
        for reason, n in acc[f"{what}_by_reason"].items():
            click.echo(f"  {what} {reason}: {n}")
    if acc["rejected"]:
        click.echo(f"  rejected records with reasons: {output}/rejects/")
