"""Search engines that can hold a boltir index beyond one machine; each is one module, registered in
:mod:`boltir.registry` (``Engine``: target prefixes, searcher, exporter) and looked up from there, so an engine
target (``qdrant-edge:FOLDER``, ``qdrant://HOST:PORT/COLLECTION``, ...) is accepted wherever an index folder is.
Today: Qdrant (:mod:`boltir.index.engines.qdrant`)."""
