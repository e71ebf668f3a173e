"""Fixtures shared by the index tests."""

import itertools
import json

import pytest


@pytest.fixture(scope="session")
def dl19_sample(tmp_path_factory):
    """The first 40 passages of the bundled DL19 pool: ``(folder holding docs.jsonl, [Doc])``."""
    from boltir.data.sources import load_docs

    folder = tmp_path_factory.mktemp("dl19-sample")
    docs = list(itertools.islice(load_docs("trec-dl-2019"), 40))
    (folder / "docs.jsonl").write_text("".join(json.dumps({"doc_id": d.doc_id, "text": d.text}) + "\n" for d in docs))
    return folder, docs
