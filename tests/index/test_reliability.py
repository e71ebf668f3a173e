"""One writer at a time, readers that keep their generation, corruption that is found: the index folder lock
(a second writer fails at once naming the holder; a killed holder's lock is taken over), searches running while
documents are added, checksums and sizes of every index file, stale temporary files, and ids read back exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from boltir.cli import main as boltir
from boltir.errors import InvalidIndexError
from boltir.index.storage import read_manifest

pytestmark = pytest.mark.slow


def docs_file(path, n, start=0, prefix="d"):
    path.write_text(
        "".join(
            json.dumps({"doc_id": f"{prefix}{i}", "text": f"passage {i} about topic {i % 7}"}) + "\n"
            for i in range(start, start + n)
        )
    )
    return path


@pytest.fixture
def dense_model(tiny_backbone, tmp_path):
    from boltir.models.base import save_model_folder
    from boltir.models.loading import load_bi_encoder

    model, tok = load_bi_encoder(tiny_backbone, projection_dim=8, similarity="cosine", doc_length=32)
    save_model_folder(model, tok, tmp_path / "model")
    return str(tmp_path / "model")


HOLD = """
import sys, time
from boltir.index.lock import writer_lock
with writer_lock(sys.argv[1], "test holder"):
    print("held", flush=True)
    time.sleep(600)
"""


def hold_lock(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_fails_at_once_and_a_killed_holders_lock_is_taken_over(dense_model, tmp_path, capsys):
    idx = tmp_path / "idx"
    docs = docs_file(tmp_path / "d.jsonl", 30)
    holder = hold_lock(idx)
    try:
        t0 = time.perf_counter()
        assert boltir(["index", "--model", dense_model, "--docs", str(docs), "--output", str(idx)]) == 1
        err = capsys.readouterr().err
        assert f"is being written by another process (pid {holder.pid}" in err and "test holder" in err
        assert time.perf_counter() - t0 < 5  # at once: before any model is loaded
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert boltir(["index", "--model", dense_model, "--docs", str(docs), "--output", str(idx)]) == 0
    assert read_manifest(idx)["count"] == 30
    for argv in (["--docs", str(docs_file(tmp_path / "m.jsonl", 5, 30)), "--add"], ["--delete", str(tmp_path / "x")]):
        (tmp_path / "x").write_text("d1\n")
        holder = hold_lock(idx)
        try:
            assert boltir(["index", "--output", str(idx), *argv]) == 1
            assert "is being written by another process" in capsys.readouterr().err
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()


@pytest.mark.repro
def test_two_builds_started_together_one_succeeds_one_fails(dense_model, tmp_path):
    idx = tmp_path / "idx"
    a_docs, b_docs = docs_file(tmp_path / "a.jsonl", 3000), docs_file(tmp_path / "b.jsonl", 3000, prefix="b")
    env = {**os.environ, "BOLTIR_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "boltir", "index", "--model", dense_model, "--output", str(idx), "--batch-size", "1"]
    first = subprocess.Popen([*cmd, "--docs", str(a_docs)], env=env, stderr=subprocess.PIPE, text=True)
    while not (idx / ".lock").exists() or not (idx / ".lock").read_text():
        time.sleep(0.05)
    second = subprocess.run([*cmd, "--docs", str(b_docs)], env=env, stderr=subprocess.PIPE, text=True, timeout=120)
    assert first.wait(timeout=300) == 0, first.stderr.read()[-1000:]
    assert second.returncode == 1 and "is being written by another process" in second.stderr
    manifest = read_manifest(idx)
    ids = (idx / manifest["shards"][0]["ids"]).read_text().split("\n")
    assert manifest["count"] == 3000 and ids[0] == "d0"  # one corpus, not two


def test_searches_running_while_documents_are_added_never_fail(dense_model, tmp_path):
    from boltir.index.dense import DenseSearcher
    from boltir.models.loading import load_module

    idx = tmp_path / "idx"
    assert (
        boltir(
            ["index", "--model", dense_model, "--docs", str(docs_file(tmp_path / "d.jsonl", 200)), "--output", str(idx)]
        )
        == 0
    )
    loaded = load_module(dense_model)
    script = "; ".join(
        [
            "import sys",
            "from boltir.cli import main",
            *(
                f"assert main(['index', '--output', sys.argv[1], '--add', '--docs', sys.argv[{i + 2}]]) == 0"
                for i in range(4)
            ),
        ]
    )
    adds = [str(docs_file(tmp_path / f"add{i}.jsonl", 50, 200 + 50 * i, prefix=f"a{i}-")) for i in range(4)]
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(idx), *adds], env={**os.environ, "BOLTIR_NO_PROGRESS": "1"}
    )
    searches, failures, generations = 0, [], set()
    while writer.poll() is None:
        try:
            searcher = DenseSearcher(idx, loaded=loaded)
            run = searcher.search({"q": "passage about topic 3"}, k=10)
            assert len(run["q"]) == 10
            generations.add(searcher.manifest.get("generation", 0))
            searches += 1
        except Exception as e:
            failures.append(repr(e))
    assert writer.returncode == 0
    assert not failures, failures[:3]
    assert searches > 10 and len(generations) >= 2
    assert read_manifest(idx)["count"] == 400


def test_every_flipped_byte_is_found_by_verify_and_sizes_on_open(dense_model, tmp_path, capsys):
    from boltir.index.dense import DenseSearcher

    idx = tmp_path / "idx"
    assert (
        boltir(
            [
                "index",
                "--model",
                dense_model,
                "--docs",
                str(docs_file(tmp_path / "d.jsonl", 40)),
                "--output",
                str(idx),
                "--shard-size",
                "16",
            ]
        )
        == 0
    )
    assert boltir(["index", "--verify", str(idx)]) == 0
    files = read_manifest(idx)["files"]
    assert {"faiss.index", "shards/vectors-00000.npy", "shards/ids-00002.txt"} <= set(files)
    for rel in files:
        path = idx / rel
        original = path.read_bytes()
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0xFF
        path.write_bytes(bytes(flipped))
        assert boltir(["index", "--verify", str(idx)]) == 1
        assert f"{rel}: checksum differs" in capsys.readouterr().err
        with pytest.raises(InvalidIndexError, match=rf"{rel}: its content differs from the manifest"):
            DenseSearcher(idx)  # every file of this small index is hashed whole on open
        path.write_bytes(original[:-1])  # one byte short: found on open, before any search
        with pytest.raises(InvalidIndexError, match=rf"{rel}: {len(original) - 1} bytes, the manifest says"):
            DenseSearcher(idx)
        path.write_bytes(original)
    assert boltir(["index", "--verify", str(idx)]) == 0


def test_add_refuses_an_index_whose_files_changed(dense_model, tmp_path, capsys):
    idx = tmp_path / "idx"
    assert (
        boltir(
            ["index", "--model", dense_model, "--docs", str(docs_file(tmp_path / "d.jsonl", 20)), "--output", str(idx)]
        )
        == 0
    )
    vectors = idx / "shards" / "vectors-00000.npy"
    data = np.load(vectors)
    data[0, 0] += 1.0  # same size, different bytes
    np.save(vectors, data)
    assert boltir(["index", "--output", str(idx), "--add", "--docs", str(docs_file(tmp_path / "m.jsonl", 5, 20))]) == 1
    assert "cannot update a damaged index: shards/vectors-00000.npy: checksum differs" in capsys.readouterr().err


def test_ids_with_line_separators_cannot_shift_stored_ids(dense_model, tmp_path, capsys):
    """Before: ids holding U+0085 or U+2028 were stored, then read back with str.splitlines(), shifting every later
    id. Now they are refused where they enter, and stored id files are split on newlines only."""
    from boltir.index.storage import read_id_file

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"doc_id": "a\u2028b", "text": "x"}) + "\n", encoding="utf-8")
    assert boltir(["index", "--model", dense_model, "--docs", str(bad), "--output", str(tmp_path / "i")]) == 1
    assert "bad.jsonl:1: document id" in capsys.readouterr().err
    stored = tmp_path / "ids.txt"
    stored.write_text("x\u2028y\nz\n", encoding="utf-8")  # an id file written by an older boltir
    assert read_id_file(stored) == ["x\u2028y", "z"]


def test_stale_temporary_files_of_a_killed_writer_are_removed(dense_model, tmp_path):
    idx = tmp_path / "idx"
    assert (
        boltir(
            ["index", "--model", dense_model, "--docs", str(docs_file(tmp_path / "d.jsonl", 20)), "--output", str(idx)]
        )
        == 0
    )
    leftover = idx / "shards" / ".vectors-00001.npy.abc123.tmp"
    leftover.write_bytes(b"half a shard")
    assert boltir(["index", "--output", str(idx), "--add", "--docs", str(docs_file(tmp_path / "m.jsonl", 5, 20))]) == 0
    assert not leftover.exists()


def _index(model, tmp_path, *extra, n=40):
    idx = tmp_path / "idx"
    argv = ["index", "--model", model, "--docs", str(docs_file(tmp_path / "d.jsonl", n)), "--output", str(idx)]
    assert boltir([*argv, "--shard-size", "16", *extra]) == 0
    return idx


def _search(idx, tmp_path) -> int:
    (tmp_path / "q.tsv").write_text("q1\ttopic 3\n")
    argv = ["search", "--index", str(idx), "--queries", str(tmp_path / "q.tsv"), "--output", str(tmp_path / "r")]
    return boltir([*argv, "--k", "5"])


def test_two_ids_swapped_in_an_ids_file_are_refused_on_the_search_path(dense_model, tmp_path, capsys):
    idx = _index(dense_model, tmp_path)
    ids = idx / "shards" / "ids-00001.txt"
    lines = ids.read_text().split("\n")
    lines[0], lines[1] = lines[1], lines[0]  # d16 <-> d17: same size, other documents
    ids.write_text("\n".join(lines))
    assert _search(idx, tmp_path) == 1
    err = capsys.readouterr().err
    assert f"{ids}: its content differs from the manifest's checksum" in err and not (tmp_path / "r").exists()


def test_a_broken_id_file_and_manifest_are_named(dense_model, tmp_path, capsys):
    from boltir.index.storage import read_id_file

    idx = _index(dense_model, tmp_path)
    ids = idx / "shards" / "ids-00000.txt"
    raw = bytearray(ids.read_bytes())
    raw[1] = 0xFF  # no longer UTF-8
    ids.write_bytes(bytes(raw))
    with pytest.raises(InvalidIndexError, match=rf"{ids}: not UTF-8 at byte 1"):
        read_id_file(ids)
    manifest_path = idx / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for key, broken in [
        ("files", {k: v for k, v in manifest.items() if k != "files"}),
        ("model", {k: v for k, v in manifest.items() if k != "model"}),
        ("model.fingerprint", {**manifest, "model": {"source": "x", "model_type": "boltir-dpr"}}),
    ]:
        manifest_path.write_text(json.dumps(broken))
        assert _search(idx, tmp_path) == 1
        assert f"the manifest lacks '{key}'" in one_error(capsys)
        assert boltir(["index", "--verify", str(idx)]) == 1
        assert f"the manifest lacks '{key}'" in one_error(capsys)


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and " error: " in err[-1] and not any(line.startswith("Traceback") for line in err), err
    return err[-1]


@pytest.mark.parametrize("kind", ["sparse", "ondisk-ivf"])
def test_a_flipped_byte_in_memory_mapped_data_is_refused(kind, dense_model, tmp_path, capsys, monkeypatch):
    """Sparse postings and on-disk IVF lists are memory-mapped, never read whole: a small one is hashed whole on
    open, a large one by sampled blocks (a flip inside a sampled block is refused on open; ``--verify`` finds any)."""
    from boltir.index import integrity
    from boltir.utils.provenance import sampled_fingerprint

    if kind == "sparse":
        idx, target = _index("splade-tiny", tmp_path), "postings-docs.npy"
    else:
        idx, target = (
            _index(dense_model, tmp_path, "--factory", "IVF4,Flat", "--train-size", "40", "--ondisk"),
            "faiss.ivfdata",
        )
    path = idx / target
    assert target in read_manifest(idx)["files"]
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))
    assert _search(idx, tmp_path) == 1
    assert f"{path}: its content differs from the manifest's checksum" in one_error(capsys)
    assert boltir(["index", "--verify", str(idx)]) == 1
    assert f"{target}: checksum differs" in capsys.readouterr().err
    # the same file recorded as large: only sampled blocks are read on open
    path.write_bytes(original)
    manifest = json.loads((idx / "manifest.json").read_text())
    manifest["files"][target]["sampled"] = sampled_fingerprint(path)
    (idx / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(integrity, "SMALL_FILE", 0)
    flipped = bytearray(original)
    flipped[3] ^= 0xFF  # inside the first sampled block
    path.write_bytes(bytes(flipped))
    assert _search(idx, tmp_path) == 1
    assert f"{path}: its content differs" in one_error(capsys)
