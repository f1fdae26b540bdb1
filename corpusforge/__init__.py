"""corpusforge: raw pretraining corpora -> sharded Apache Arrow datasets, with Apache Beam.

    import corpusforge
    docs = corpusforge.build("documents", inputs="samples/corpora", output="out/documents")
    tok = corpusforge.build("tokenized", inputs=docs, tokenizer="vocab.txt", output="out/tokenized")
    nsp = corpusforge.build("pretraining", inputs=tok, output="out/nsp128", mode="nsp")
    nsp.manifest["rows"], nsp.to_datasets()

The names below are imported on first use: `import corpusforge` imports neither Apache Beam nor torch.
"""
__version__ = "0.5.0"

_API = {"build": "api", "export": "api", "open_dataset": "api", "kinds": "api", "Dataset": "api",
        "BuildError": "errors", "BadOption": "errors", "BadInput": "errors", "OutputExists": "errors",
        "BadOutput": "errors", "OutputBusy": "errors", "WriteFailed": "errors", "MissingExtra": "errors",
        "EmptyBuild": "dataset.empty"}
__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(f"corpusforge.{_API[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'corpusforge' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
