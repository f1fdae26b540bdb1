"""Pipeline options: Beam flags pass through unchanged; the embedded default runner never downloads."""
from __future__ import annotations

import argparse

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions


class BeamArgsError(ValueError):
    pass


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Parses Beam flags (--runner, --direct_num_workers, ...); an unknown flag is an error, not a warning."""
    parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    seen = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    _, unknown = parser.parse_known_args(beam_args)
    flags = [a for a in unknown if a.startswith("-")]
    if flags or unknown:
        raise BeamArgsError(f"no such option: {(flags or unknown)[0]} (neither a corpusforge nor an Apache Beam option)")
    if not any(a.startswith("--default_sdk_harness_log_level") for a in beam_args):
        beam_args = [*beam_args, "--default_sdk_harness_log_level=WARNING"]  # quiet worker processes
    return PipelineOptions(beam_args)


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A Pipeline on the runner the flags name, or else the in-process FnApiRunner.

    Beam's plain DirectRunner first tries the Prism runner, which downloads a binary at run
    time; corpusforge's default skips that and runs the same FnApiRunner the DirectRunner
    falls back to (it honours --direct_num_workers and --direct_running_mode).
    """
    if options.view_as(beam.options.pipeline_options.StandardOptions).runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return beam.Pipeline(runner=FnApiRunner(), options=options)
