"""Torch datasets over documents and queries that shard across DataLoader workers and distributed ranks."""

from __future__ import annotations

from boltir.data.records import Doc, Query
from boltir.data.sharding import ShardedIterable


class DocDataset(ShardedIterable):
    """Stream the documents of a file, dataset name or ``irds:<id>``; each worker/rank gets its own share."""

    def __init__(self, docs: str):
        super().__init__(_DocSource(docs))
        self.docs = docs


class QueryDataset(ShardedIterable):
    """The queries of a file, dataset name or ``irds:<id>``, sharded like :class:`DocDataset`."""

    def __init__(self, queries: str):
        super().__init__(_QuerySource(queries))
        self.queries = queries


class _DocSource:  # a picklable callable (spawned workers receive it)
    def __init__(self, spec: str):
        self.spec = spec

    def __call__(self):
        from boltir.data.sources import load_docs

        return load_docs(self.spec)


class _QuerySource:
    def __init__(self, spec: str):
        self.spec = spec

    def __call__(self):
        from boltir.data.sources import load_queries

        return (Query(q, t) for q, t in load_queries(self.spec).items())


__all__ = ["Doc", "DocDataset", "Query", "QueryDataset"]
