"""A build that produced nothing says so: checked on the input accounting before the dataset is
committed, so no 0-row dataset appears unless --allow-empty asks for one; a build that rejected more
than --max-reject-share of its records warns with the counts by reason."""
from __future__ import annotations

import click

from corpusforge.errors import BuildError

DEFAULT_MAX_REJECT_SHARE = 0.5
# the reason that took most records -> what the user most likely got wrong ({...}: the build's params)
HINTS = {
    "missing_text_field": "--text-field {text_field} is not a field of these records; name the field that holds the text",
    "wrong_field_type": "--text-field {text_field} does not hold text in these records; name the field that holds it",
    "empty_text": "the --text-field {text_field} of every record is empty; name the field that holds the text",
    "malformed_json": "these files are not JSON lines; check --format",
    "not_utf8": "these files are not UTF-8; give their --encoding",
    "binary_file": "these files are not text; check --input",
    "too_short": "every document is shorter than --min-chars {min_chars}; lower it",
    "too_long": "every document is longer than --max-chars {max_chars}; raise it",
    "too_few_sentences": "every document has fewer than --min-sentences {min_sentences} sentences; lower it",
    "low_cjk_ratio": "no document reaches --min-cjk-ratio {min_cjk_ratio}; lower it",
    "not_a_pair": "the input holds no translation pairs; read translation2019zh JSON lines with --side pair",
    "pair_too_long": "every pair is longer than --max-seq-length {max_seq_length}; raise it",
    "empty_side": "a side of every pair is empty; check the english and chinese fields",
}
GENERIC_HINT = "check --input, --format and the filters"
# records kept but no row built: what a mode needs that the kept text lacks ({...}: the build's params)
KEPT_HINTS = {"xlnet": "XLNet's records need a stream of more than --max-seq-length {max_seq_length} tokens per "
                       "bucket; give more text or lower --max-seq-length"}


class EmptyBuild(BuildError):
    """Nothing to write; the message is the one sentence the command ends with (raised in a Beam worker; a
    BuildError, so corpusforge.build() raises it too)."""


def check_produced(accounting: dict, rows: int, params: dict) -> None:
    """Raises EmptyBuild when the dataset would have no rows, unless params["allow_empty"]."""
    if rows or params.get("allow_empty"):
        return
    read, kept = accounting.get("read", 0), accounting.get("kept", 0)
    if not read:
        problem, hint = "the input holds no records", "check --input (empty files?)"
    elif kept:
        problem = f"the {kept} records kept produced no rows"
        hint = KEPT_HINTS.get(params.get("mode"), "the input may be too small for these options").format_map(
            {"max_seq_length": params.get("max_seq_length")})
    else:
        reasons = {**accounting.get("filtered_by_reason", {}), **accounting.get("rejected_by_reason", {})}
        reason, n = max(reasons.items(), key=lambda item: (item[1], item[0]))
        what = "rejected" if reason in accounting.get("rejected_by_reason", {}) else "filtered"
        problem = f"none of the {read} records read was kept, most were {what} as {reason} ({n})"
        hint = HINTS.get(reason, GENERIC_HINT).format_map({k: params.get(k) for k in
                                                           ("text_field", "min_chars", "max_chars", "min_sentences",
                                                            "min_cjk_ratio", "max_seq_length")})
    raise EmptyBuild(f"nothing to write: {problem}; {hint}, or pass --allow-empty to write an empty dataset")


def warn_rejects(manifest: dict) -> None:
    """The warning for a build that rejected more than its --max-reject-share of the records read."""
    acc = manifest.get("input", {})
    share = manifest.get("params", {}).get("max_reject_share", DEFAULT_MAX_REJECT_SHARE)
    read, rejected = acc.get("read", 0), acc.get("rejected", 0)
    if read and rejected / read > share:
        reasons = ", ".join(f"{reason} {n}" for reason, n in acc.get("rejected_by_reason", {}).items())
        click.echo(f"Warning: {rejected} of {read} records ({rejected / read:.0%}) were rejected, more than "
                   f"--max-reject-share {share:g}: {reasons}", err=True)
