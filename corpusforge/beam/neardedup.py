"""NearDedup: MinHash + LSH near-duplicate removal over document rows, as Beam steps that scale.

1. Sign: each row's MinHash signature (corpusforge.text.minhash) and one entry per LSH band,
   keyed by the band's bytes (its bucket).
2. Bucket heads: the smallest node of every bucket with two or more members, by a combiner
   (a running minimum and a count per bundle: a hot bucket is pre-aggregated on every worker,
   never gathered). The head is sent to SALTS sub-buckets, and each member to the one its id
   hashes to, so a boilerplate bucket shared by millions of documents is spread over SALTS
   groups whose members are streamed (not sorted or listed); each member is verified against the
   head (signature agreement >= threshold) and becomes a star edge (head, member).
3. Clusters: connected components of the verified edges by label propagation with hooking and
   pointer jumping (LabelRound) for ROUNDS rounds; one more round checks that no label changes, else the
   build fails rather than keep near-duplicates silently.
4. Decide: a node whose label is another node is a near-duplicate of it; the row is dropped
   (counted `filtered:near_duplicate`) and (doc_id, kept_doc_id) goes to near_duplicates.jsonl,
   unless it has exactly the kept document's content: that copy is left to the sink's exact dedup
   and counted as `duplicate`, as without --near-dedup.

A node is `doc_id \\0 content-key-hex`, so the smallest node is the smallest doc_id (doc_ids hold
no NUL) and equal content is visible in the label. Rows cross one shuffle (keyed by node) to
meet their decision.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam import pvalue

from corpusforge.beam.counting import COUNTS, CountingDoFn
from corpusforge.beam.prepare import EXAMPLES, example
from corpusforge.beam.sink import GROUP_BYTES, KEY, WriteShards
from corpusforge.dataset.writer import write_bytes
from corpusforge.text.minhash import MinHasher, agreement

SALTS = 16  # sub-buckets per LSH bucket and per node in a round: a hot key spreads over this many groups
ROUNDS = 8  # hooking + pointer jumping: enough even for a cluster that is a chain of several hundred documents
BANDS_TAG = "bands"
NEAR_FILE = "near_duplicates.jsonl"
NOT_CONVERGED = "near-duplicate clusters did not converge in"
NEAR_SCHEMA = pa.schema([pa.field("doc_id", pa.string()), pa.field("kept_doc_id", pa.string()),
                         pa.field(KEY, pa.binary())])


@dataclass(frozen=True)
class NearDedupOptions:
    threshold: float = 0.8
    num_perm: int = 128
    bands: int = 18
    shingle: str = "auto"
    shingle_size: int = 5


def node_of(row: dict) -> str:
    return f"{row['doc_id']}\0{row[KEY][:GROUP_BYTES].hex()}"


def doc_of(node: str) -> str:
    return node.split("\0", 1)[0]


def content_of(node: str) -> str:
    return node.split("\0", 1)[1]


def salt(node: str) -> int:
    return int.from_bytes(hashlib.blake2b(node.encode(), digest_size=4).digest(), "big") % SALTS


class Sign(beam.DoFn):
    """row -> (node, row) on the main output; (bucket, (node, signature bytes)) per band on BANDS_TAG."""

    def __init__(self, opts: NearDedupOptions):
        self.opts = opts

    def setup(self):
        o = self.opts
        self.hasher = MinHasher(o.num_perm, o.bands, o.shingle, o.shingle_size)

    def process(self, row):
        node = node_of(row)
        yield node, row
        sig = self.hasher.signature("\n".join(row["sentences"]))
        if sig is None:  # no shingles (no letters at all): nothing to compare
            return
        value = (node, sig.tobytes())
        for band in self.hasher.bands_of(sig):
            yield pvalue.TaggedOutput(BANDS_TAG, (band, value))


class Head(beam.CombineFn):
    """A bucket's smallest member and its member count; holds one member per accumulator."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, acc, value):
        head, n = acc
        return (value if head is None or value[0] < head[0] else head), n + 1

    def merge_accumulators(self, accs):
        heads = [h for h, _ in accs if h is not None]
        return (min(heads) if heads else None), sum(n for _, n in accs)

    def extract_output(self, acc):
        return acc


def head_to_salts(bucket_head):
    bucket, (head, n) = bucket_head
    if n > 1:
        for s in range(SALTS):
            yield (bucket, s), head


def verified_edges(group, threshold: float):
    """Star edges (head, member) of one sub-bucket whose signatures agree on >= threshold."""
    _, g = group
    heads = list(g["head"])
    if not heads:
        return
    head, head_sig = heads[0]
    head_sig = np.frombuffer(head_sig, np.uint32)
    for node, sig in g["member"]:
        if node != head and agreement(np.frombuffer(sig, np.uint32), head_sig) >= threshold:
            yield head, node


def to_salts(node_label):
    node, label = node_label
    return [((node, s), label) for s in range(SALTS)]


def send_label(group):
    """A node's label to every node listed with it in this salt (its neighbours, or the nodes it labels)."""
    _, g = group
    labels = list(g["label"])
    for to in g["to"] if labels else ():
        yield to, labels[0]


class OwnAndLowest(beam.CombineFn):
    """(own label, lowest neighbour label) of a node from its ("own", l) and ("neighbour", l) messages."""

    def create_accumulator(self):
        return None, None

    def add_input(self, acc, message):
        return self.merge_accumulators([acc, (message[1], None) if message[0] == "own" else (None, message[1])])

    def merge_accumulators(self, accs):
        own = [a for a, _ in accs if a is not None]
        low = [b for _, b in accs if b is not None]
        return (own[0] if own else None), (min(low) if low else None)

    def extract_output(self, acc):
        return acc


def hook(node_acc):
    """The node takes its lowest neighbour label; so does the node its label names (the hooking of
    Shiloach-Vishkin: a whole tree moves under the smaller label at once, not one hop per round)."""
    node, (own, low) = node_acc
    yield node, own if low is None else min(own, low)
    if low is not None and low < own:
        yield own, low


class LabelRound(beam.PTransform):
    """labels (node, label) + salted adjacency ((node, salt), neighbour) -> the next labels: hooking
    (see hook), then each node takes its label's label (pointer jumping). Labels only decrease and
    are always nodes of the same component. A node with many neighbours or many nodes under its
    label is spread over SALTS groups."""

    def __init__(self, adjacency):
        super().__init__()
        self.adjacency = adjacency

    def expand(self, labels):
        sent = ({"label": labels | "ToSalts" >> beam.FlatMap(to_salts), "to": self.adjacency}
                | "Join" >> beam.CoGroupByKey() | "Send" >> beam.FlatMap(send_label)
                | "AsNeighbour" >> beam.Map(lambda nl: (nl[0], ("neighbour", nl[1]))))
        own = labels | "AsOwn" >> beam.Map(lambda nl: (nl[0], ("own", nl[1])))
        hooked = ((sent, own) | "Messages" >> beam.Flatten() | "OwnAndLowest" >> beam.CombinePerKey(OwnAndLowest())
                  | "Hook" >> beam.FlatMap(hook) | "Min" >> beam.CombinePerKey(min))
        askers = hooked | "AskLabel" >> beam.Map(lambda nl: ((nl[1], salt(nl[0])), nl[0]))
        jumped = ({"label": hooked | "HopSalts" >> beam.FlatMap(to_salts), "to": askers}
                  | "JoinLabels" >> beam.CoGroupByKey() | "Jump" >> beam.FlatMap(send_label))
        return (jumped, hooked) | "WithHop" >> beam.Flatten() | "JumpMin" >> beam.CombinePerKey(min)


class CheckConverged(beam.DoFn):
    def __init__(self, rounds: int):
        self.rounds = rounds

    def process(self, group):
        node, g = group
        if list(g["before"]) != list(g["after"]):
            raise RuntimeError(f"{NOT_CONVERGED} {self.rounds} rounds (at {doc_of(node)}); a cluster chains more "
                               "near-duplicates than that")
        yield node, list(g["after"])[0]


class Components(beam.PTransform):
    """Edges (a, b) -> (node, smallest node of its connected component), for every node of an edge."""

    def __init__(self, rounds: int | None = None):
        super().__init__()
        self.rounds = rounds or ROUNDS

    def expand(self, edges):
        adjacency = edges | "BothWays" >> beam.FlatMap(
            lambda e: [((e[0], salt(e[1])), e[1]), ((e[1], salt(e[0])), e[0])])
        labels = (edges | "Nodes" >> beam.FlatMap(lambda e: [(e[0], e[0]), (e[1], e[1])])
                  | "NodeLabels" >> beam.CombinePerKey(min))
        for r in range(self.rounds):
            labels = labels | f"Round{r}" >> LabelRound(adjacency)
        after = labels | "CheckRound" >> LabelRound(adjacency)
        return ({"before": labels, "after": after} | "Compare" >> beam.CoGroupByKey()
                | "Converged" >> beam.ParDo(CheckConverged(self.rounds)))


class Decide(CountingDoFn):
    """(node, {row, label}) -> kept rows; near-duplicates counted and listed on the NEAR tag."""

    def process(self, group):
        node, g = group
        labels = list(g["label"])
        for row in g["row"]:
            kept = labels[0] if labels else node
            if kept == node or content_of(kept) == content_of(node):  # exact copies: the sink's dedup
                yield row
            else:
                self.count("filtered:near_duplicate")
                self.count(f"source:{row['source']}:near_duplicate")
                yield example("near_duplicate", row[KEY], row["doc_id"], row["source"], "\n".join(row["sentences"]))
                yield pvalue.TaggedOutput("near", {"doc_id": row["doc_id"], "kept_doc_id": doc_of(kept),
                                                   KEY: row["doc_id"].encode()})


def write_near(batches, path: str) -> dict:
    lines = [json.dumps({"doc_id": r["doc_id"], "kept_doc_id": r["kept_doc_id"]}, ensure_ascii=False) + "\n"
             for batch in batches for r in batch.to_pylist()]
    data = "".join(lines).encode()
    write_bytes(path, data)
    return {"file": NEAR_FILE, "rows": len(lines), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class NearDedup(beam.PTransform):
    """{"rows", "rejects", "counts", "examples"} -> the same with near-duplicate rows removed, plus "files":
    the near_duplicates.jsonl entry for the manifest (written into `tmp`, the dataset's temporary
    directory)."""

    def __init__(self, opts: NearDedupOptions, tmp: str):
        super().__init__()
        self.opts, self.tmp = opts, tmp

    def expand(self, inputs):
        signed = inputs["rows"] | "Sign" >> beam.ParDo(Sign(self.opts)).with_outputs(BANDS_TAG, main="rows")
        bands = signed[BANDS_TAG]
        heads = (bands | "BucketHead" >> beam.CombinePerKey(Head()).with_hot_key_fanout(SALTS)
                 | "HeadToSalts" >> beam.FlatMap(head_to_salts))
        members = bands | "MemberSalt" >> beam.Map(lambda bv: ((bv[0], salt(bv[1][0])), bv[1]))
        edges = ({"head": heads, "member": members} | "Buckets" >> beam.CoGroupByKey()
                 | "Verify" >> beam.FlatMap(verified_edges, self.opts.threshold)
                 | "DistinctEdges" >> beam.Distinct())
        labels = edges | "Clusters" >> Components()
        decided = ({"row": signed.rows, "label": labels} | "JoinRows" >> beam.CoGroupByKey()
                   | "Decide" >> beam.ParDo(Decide()).with_outputs(COUNTS, "near", EXAMPLES, main="rows"))
        tmp = self.tmp
        files = decided.near | "WriteNear" >> WriteShards(
            f"{tmp}/_spill/near", NEAR_SCHEMA, 1, lambda batches, schema, k: write_near(batches, f"{tmp}/{NEAR_FILE}"))
        counts = (inputs["counts"], decided[COUNTS]) | "NearCounts" >> beam.Flatten()
        examples = (inputs["examples"], decided[EXAMPLES]) | "NearExamples" >> beam.Flatten()
        return {"rows": decided.rows, "rejects": inputs["rejects"], "counts": counts, "files": files,
                "examples": examples}
