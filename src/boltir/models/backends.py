"""Faster CPU inference for any family whose model runs its backbone whole (the bi-encoders and mono
cross-encoders):

- by default (``backend="torch"``) the backbone runs traced (TorchScript) when it is called without gradients on
  CPU, from its ninth such call on. A trace runs the same kernels without the Python of each layer call, which
  dominates short inputs (a query at batch 1: 1.5x the queries/s of the eager model with MiniLM-L6). It is used
  only when its outputs equal the eager backbone's exactly on padded and unpadded probes; otherwise, and for
  training, the eager backbone runs. A padded batch of short texts (queries) runs packed through a second trace,
  without its padding (:mod:`boltir.models.packing`; outputs equal to float rounding). ``backend="eager"`` turns
  both off.

Opt-in, where scores may move a little:

- ``quantize="bf16"``: the backbone's weights and activations in bfloat16, its output handed to the family in
  float32 (the family's own layers stay float32). On CPUs with AMX or AVX512-BF16 (Intel Sapphire Rapids and later,
  AMD Zen 4 and later) oneDNN runs bfloat16 matrix products several times faster than float32 (2,223 against 381
  GFLOP/s on the benchmark machine), and on GPUs it halves memory traffic; elsewhere it is slower than float32,
  and boltir warns. Scores move by about 1e-2 relative: it is an option, never a default.
- ``quantize="int8"``: int8 dynamic quantization of the linear layers (weights stored in int8 with a scale per
  output channel, activations quantized on the fly per batch). The first transformer layer stays in fp32: it reads
  the raw embeddings, whose outlier dimensions quantize worst (on DL19 with MiniLM-L6 every layer in int8 lost
  0.009 nDCG@10; with the first in fp32, none).
- ``backend="onnx"``: the backbone exported to ONNX (``torch.onnx.export``, dynamic batch and length) and run by
  ONNX Runtime; with ``quantize="int8"`` ONNX Runtime's dynamic int8 quantization of the same linear layers. The
  family's own layers (pooling, projections, score heads) stay in PyTorch. Exports are cached by weights.

benchmarks/bench_cpu_backend.py measures throughput and DL19 effectiveness beside fp32 PyTorch."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from boltir.errors import ConfigError
from boltir.utils.atomic import atomic_path

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("int8", "bf16")
BACKENDS = ("torch", "eager", "onnx")
FIRST_LAYER = re.compile(r"(^|\.)(layer|layers|block)\.0\.")  # BERT/ELECTRA, ModernBERT-style, T5
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def prepare(model: Any, backend: str | None = "torch", quantize: str | None = None) -> Any:
    """``model`` set up in place for inference on ``backend``, its linear layers quantized when ``quantize`` is
    ``int8``, its backbone run in bfloat16 when it is ``bf16``.

    Args:
        model: a loaded boltir model (its backbone in ``model.encoder``).
        backend: ``torch`` (None: the default) traces the backbone for calls without gradients on CPU where the
            trace is exact (:func:`trace_backbone`, from the ninth call), else leaves the model as it is (set up or
            not); ``eager`` leaves it as it is; ``onnx`` runs the backbone in ONNX Runtime.
        quantize: None, ``int8`` (dynamic int8 linear layers, CPU) or ``bf16`` (a bfloat16 backbone, any device).

    Returns:
        ``model`` itself.

    Raises:
        ConfigError: an unknown backend or quantization, a model already set up otherwise, a model not on CPU
            (``onnx`` / ``int8``), ``onnx`` with ``bf16``, or ``onnx`` / ``bf16`` for a family that does not call
            its backbone whole.
    """
    backend = backend or "torch"
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r}: choose one of {', '.join(BACKENDS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError(f"quantize={quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    if (backend, quantize) == ("onnx", "bf16"):
        raise ConfigError("quantize=bf16 runs in PyTorch: use --backend torch (or --quantize int8 with onnx)")
    done = (getattr(model, "backend", None) or "torch", getattr(model, "quantized", None))
    if backend == "torch" and done == ("torch", quantize) and quantize in (None, "bf16"):
        trace_backbone(model)  # as it is; traced where that is exact
        return model
    untrace_backbone(model)  # eager asked, or the layers are about to be replaced (a trace would keep the old ones)
    if (backend, quantize) in (("torch", None), ("eager", None), done, ("eager", done[1])):  # nothing asked, or done
        return model
    traced = backend == "torch"
    if backend == "eager":
        backend = "torch"
    if done != ("torch", None):
        raise ConfigError(f"{type(model).__name__} already runs on {describe(model)}, not {backend} {quantize or ''}")
    if (backend == "onnx" or quantize == "bf16") and not getattr(model, "whole_backbone", False):
        raise ConfigError(
            f"{'backend=onnx' if backend == 'onnx' else 'quantize=bf16'}: {type(model).__name__} does not call its "
            "backbone whole (it runs the layers itself or a decoder after them), which this does not cover; use "
            "--backend torch (with --quantize int8 for faster CPU inference)"
        )
    device = next(model.parameters()).device
    if device.type != "cpu" and quantize != "bf16":
        raise ConfigError(f"--backend {backend} --quantize {quantize} runs on CPU; the model is on {device}")
    if backend == "onnx":
        model.encoder = OnnxBackbone.export(model.eval().encoder, quantize)
    elif quantize == "bf16":
        bfloat16_backbone(model.eval())
    else:
        quantize_linear(model.eval())
    model.backend, model.quantized = backend, quantize
    if quantize == "bf16" and traced:
        trace_backbone(model)
    return model


def describe(model: Any) -> str:
    """``torch``, ``torch traced``, ``torch traced packed``, ``torch int8``, ``torch bf16 traced packed``, ``onnx``
    or ``onnx int8``: how ``model`` runs (``packed``: padded batches of short texts run packed, the backbone having
    passed the probe)."""
    trace = getattr(getattr(model, "encoder", None), "boltir_trace", None)
    traced = "traced" if trace is not None and trace["traced"] is not None else None
    packed = "packed" if trace is not None and trace["packs"] else None
    parts = (getattr(model, "backend", None) or "torch", getattr(model, "quantized", None), traced, packed)
    return " ".join(x for x in parts if x)


TRACE_AFTER = 8  # eager calls before the trace is taken: a short job (a test, a handful of batches) never pays it


def trace_backbone(model: Any, after: int = TRACE_AFTER, pack: bool = True) -> bool:
    """Run ``model``'s backbone traced (TorchScript) for calls without gradients on CPU, in place.

    The trace is taken at the call after ``after`` such calls (0: now), on a padded probe batch (so the
    attention-mask path is in it), and kept only when its outputs equal the eager backbone's exactly on that probe
    and on two more shapes (one batch without padding); a failure leaves the eager backbone for good. The traced
    forward shares the backbone's parameters (in-place weight updates reach it); a call with gradients, in training
    mode, off CPU, with other arguments, or once the parameters were replaced or cast (``.to()``, a deep copy) runs
    the eager forward. The backbone's state dict and signature do not change.

    With ``pack``, a padded batch of short texts runs packed (:mod:`boltir.models.packing`: the real tokens in one
    row, each text attending to itself) wherever :func:`~boltir.models.packing.worth_packing` says it saves work (at
    batch 32 of MS MARCO queries half the padded tokens are padding), once a probe showed the backbone gives the
    padded outputs packed to float rounding. Packing is decided from the first such call, not after ``after``
    calls, and the packed trace equals the eager packed backbone exactly, so a text's output depends on its batch
    alone, never on how many calls came before (a resumed build writes the vectors a whole one does).

    Args:
        model: a loaded boltir model whose family calls its backbone whole (``whole_backbone``).
        after: eager calls without gradients before the trace is taken.
        pack: run padded batches of short texts packed (False: always padded, as the eager backbone runs them).

    Returns:
        Whether the backbone runs, or will run, traced (False: a family or device it does not apply to, or a trace
        taken now that failed).
    """
    import functools
    import threading
    import types

    import torch

    from boltir.models.packing import packed_inputs, packed_module, packs_exactly, unpacked, worth_packing

    encoder = getattr(model, "encoder", None)
    if not getattr(model, "whole_backbone", False) or not isinstance(encoder, torch.nn.Module):
        return False
    existing: Any = getattr(encoder, "boltir_trace", None)
    if existing is not None:  # set up already: taken now if asked
        if not pack:
            existing["packs"], existing["packed"] = False, None
        if after <= 0:
            existing["take"](encoder)
            return existing["traced"] is not None
        return not existing["failed"]
    if getattr(model, "backend", None) not in (None, "torch") or getattr(model, "quantized", None) == "int8":
        return False  # its layers were replaced (ONNX, int8): those run as they are (a bf16 backbone is traced)
    first = next(encoder.parameters(), None)
    if first is None or first.device.type != "cpu" or not first.dtype.is_floating_point:
        return False
    inputs, field = backbone_io(encoder)
    eager, dtype = type(encoder).forward, first.dtype
    state: dict[str, Any] = {
        "calls": 0,
        "traced": None,
        "failed": False,
        "packs": None if pack else False,  # None: not probed yet
        "packed": None,  # the packed trace (else the eager packed module runs)
        "busy": None,  # the thread taking a trace or probing: its own calls to the backbone run eager, padded
    }
    lock = threading.RLock()
    eager_packed = packed_module(encoder, inputs, field)

    def probe(encoder: Any) -> bool:
        with lock:
            if state["packs"] is None:
                state["busy"] = threading.get_ident()
                try:
                    state["packs"] = packs_exactly(encoder, inputs, field, _probe(encoder, 3, 17, padded=True))
                except Exception as e:  # a backbone that refuses positions or 4-D masks runs padded
                    logger.debug("%s: not packed (%s)", type(encoder).__name__, str(e).splitlines()[0][:200])
                    state["packs"] = False
                finally:
                    state["busy"] = None
            return bool(state["packs"])

    def take(encoder: Any) -> None:
        with lock:
            if state["traced"] is None and not state["failed"]:
                packs = probe(encoder)
                state["busy"] = threading.get_ident()  # the trace and its checks call the backbone
                try:
                    state["traced"] = _trace(encoder, inputs, field)
                    if state["traced"] is not None and packs:
                        state["packed"] = _trace_packed(eager_packed, inputs)
                except Exception as e:  # a backbone TorchScript cannot trace: the eager one runs, as before
                    logger.debug("%s: not traced (%s)", type(encoder).__name__, str(e).splitlines()[0][:200])
                finally:
                    state["busy"] = None
                state["failed"] = state["traced"] is None

    @functools.wraps(eager)
    def forward(self: Any, *args: Any, **given: Any) -> Any:
        ids = given.get("input_ids")
        if (
            state["busy"] == threading.get_ident()
            or args
            or ids is None
            or torch.is_grad_enabled()
            or self.training
            or ids.device.type != "cpu"
            or set(given) - set(inputs)
            or next(self.parameters()) is not first  # not the parameters it was set up on (a copy, or moved)
            or first.device.type != "cpu"
            or first.dtype != dtype
        ):
            return eager(self, *args, **given)
        if state["traced"] is None and not state["failed"]:
            state["calls"] += 1
            if state["calls"] > after:
                take(self)
        mask = given.get("attention_mask")
        packs = state["packs"] is not False and mask is not None and worth_packing(self.config, mask)
        if packs and (state["packs"] or probe(self)):
            feed, keep = packed_inputs(given, inputs)
            run = eager_packed if state["packed"] is None else state["packed"]
            return SimpleNamespace(**{field: unpacked(run(*feed), keep)})
        if state["traced"] is None:
            return eager(self, *args, **given)
        feed = [given[n] if given.get(n) is not None else torch.zeros_like(ids) for n in inputs]
        return SimpleNamespace(**{field: state["traced"](*feed)})

    # bound to the backbone, so a deep copy rebinds it; the state is a dict: not a submodule, not in the state dict
    setattr(encoder, "forward", types.MethodType(forward, encoder))  # noqa: B010
    state["take"] = take
    setattr(encoder, "boltir_trace", state)  # noqa: B010
    if after <= 0:
        take(encoder)
        return state["traced"] is not None
    return True


def untrace_backbone(model: Any) -> None:
    """Undo :func:`trace_backbone` (before the backbone's layers are replaced: int8, ONNX)."""
    encoder: Any = getattr(model, "encoder", None)
    if getattr(encoder, "boltir_trace", None) is not None:
        del encoder.forward, encoder.boltir_trace


def _field_module(encoder: Any, inputs: list[str], field: str) -> Any:
    """``encoder`` as a module of positional ``inputs`` that returns only its ``field`` tensor (what an ONNX export
    and a trace take)."""
    import torch

    class Field(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return getattr(self.encoder(**{n: given[n] for n in inputs}), field)

    return Field().eval()


def _probe(encoder: Any, batch: int, length: int, padded: bool) -> dict[str, Any]:
    """Random token ids (a fixed seed), an attention mask with the second row cut short when ``padded``, zero
    token types."""
    import torch

    vocab = int(getattr(encoder.config, "vocab_size", 100))
    ids = torch.randint(min(5, vocab - 1), vocab, (batch, length), generator=torch.Generator().manual_seed(length))
    mask = torch.ones(batch, length, dtype=torch.long)
    if padded:
        mask[1, length // 2 :] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros(batch, length, dtype=torch.long)}


def _trace(encoder: Any, inputs: list[str], field: str) -> Any:
    """The traced ``encoder`` (positional ``inputs`` -> its ``field``), or None when the trace's outputs differ
    from the eager backbone's on any probe."""
    import torch

    module = _field_module(encoder, inputs, field)
    sample = _probe(encoder, 3, 17, padded=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python values it records as constants
        traced = torch.jit.trace(module, tuple(sample[n] for n in inputs), check_trace=False)
        for probe in (sample, _probe(encoder, 2, 9, padded=True), _probe(encoder, 1, 5, padded=False)):
            feed = tuple(probe[n] for n in inputs)
            if not torch.equal(traced(*feed), module(*feed)):
                logger.debug("%s: trace differs from the eager backbone; not used", type(encoder).__name__)
                return None
    return traced


def _trace_packed(module: Any, inputs: list[str]) -> Any:
    """The traced packed backbone ``module`` (:func:`boltir.models.packing.packed_module`), or None when the trace
    differs from the eager packed backbone on a probe."""
    import torch

    from boltir.models.packing import packed_inputs

    sample = _probe(module.encoder, 3, 17, padded=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, tuple(packed_inputs(sample, inputs)[0]), check_trace=False)
        for probe in (sample, _probe(module.encoder, 2, 9, padded=True)):
            feed = packed_inputs(probe, inputs)[0]
            if not torch.equal(traced(*feed), module(*feed)):
                logger.debug("%s: packed trace differs from the eager backbone", type(module.encoder).__name__)
                return None
    return traced


def bfloat16_backbone(model: Any) -> None:
    """Cast ``model``'s backbone to bfloat16 in place; a forward hook hands its output field to the family in
    float32, so the family's own layers (pooling, projections, score heads) run as before. Warns when this CPU has
    no native bfloat16 matrix products (then it is slower than float32)."""
    import torch

    encoder = model.encoder
    first = next(encoder.parameters())
    if first.device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        warnings.warn(
            "quantize=bf16: this CPU has no AMX or AVX512-BF16, so bfloat16 runs slower than float32 here", stacklevel=3
        )
    _, field = backbone_io(encoder)
    encoder.to(torch.bfloat16)

    def in_float32(module: Any, args: Any, output: Any) -> Any:
        return SimpleNamespace(**{field: getattr(output, field).float()})

    encoder.register_forward_hook(in_float32)


def quantize_linear(model: Any) -> None:
    """PyTorch's int8 dynamic quantization of every linear layer but the first transformer layer's, in place."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch marks its quantized tensors for a future move to torchao
        warnings.simplefilter("ignore")
        # one scale per output channel: per-tensor scales move MiniLM's cosine scores by up to 0.1
        spec = {
            name: per_channel_dynamic_qconfig
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not FIRST_LAYER.search(name)
        }
        quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def cache_dir() -> Path:
    """Where exported ONNX backbones are kept: ``$BOLTIR_CACHE/onnx``, else ``~/.cache/boltir/onnx``."""
    root = os.environ.get("BOLTIR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "boltir")
    return Path(root) / "onnx"


def backbone_io(encoder: Any) -> tuple[list[str], str]:
    """The named inputs ``encoder`` takes and the output field a family reads from it (``logits`` for a
    masked-LM backbone, else ``last_hidden_state``)."""
    accepted = inspect.signature(encoder.forward).parameters
    inputs = [n for n in ONNX_INPUTS if n in accepted]
    return inputs, "logits" if encoder.get_output_embeddings() is not None else "last_hidden_state"


class OnnxBackbone:
    """Stands in for a model's backbone: called like it (``input_ids``, ``attention_mask``, ``token_type_ids``),
    runs the exported graph in ONNX Runtime and answers with the field the family reads (``last_hidden_state``,
    or ``logits`` for masked-LM backbones)."""

    def __init__(self, path: Path, inputs: list[str], field: str):
        import onnxruntime as ort
        import torch

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path, self.inputs, self.field = path, inputs, field

    @classmethod
    def export(cls, encoder: Any, quantize: str | None) -> Any:
        """The ONNX stand-in for ``encoder`` (exported once per weights and quantization, then read from
        :func:`cache_dir`), wrapped as a module so the model keeps a device and a ``modules()`` tree."""
        from boltir.models.base import weights_fingerprint

        try:
            import onnxruntime  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError as e:  # a ModuleNotFoundError the CLI turns into "pip install 'boltir[onnx]'"
            msg = f"--backend onnx needs ONNX Runtime: pip install 'boltir[onnx]' ({e})"
            raise ModuleNotFoundError(msg, name=e.name or "onnxruntime") from None
        inputs, field = backbone_io(encoder)
        key = hashlib.sha256(f"{weights_fingerprint(encoder)} {type(encoder).__name__}".encode()).hexdigest()[:24]
        plain = cache_dir() / f"{key}.onnx"
        path = plain.with_name(f"{key}-{quantize}.onnx") if quantize else plain

        def make() -> None:
            if not path.exists():
                if not plain.exists():
                    _write_onnx(encoder, inputs, field, plain)
                if quantize:
                    _quantize_onnx(plain, path)

        make()
        try:
            return onnx_module(cls(path, inputs, field))
        except Exception as e:  # a cached file ONNX Runtime cannot read: exported again, once
            logger.warning("%s: unreadable (%s); exporting again", path, str(e).splitlines()[0][:200])
            path.unlink(missing_ok=True)
            plain.unlink(missing_ok=True)
        make()
        return onnx_module(cls(path, inputs, field))

    def __call__(self, **given: Any) -> Any:
        import numpy as np
        import torch

        ids = given["input_ids"]
        feed = {}
        for name in self.inputs:
            value = given.get(name)
            if value is None:  # what the backbone itself uses when the caller gives none: zeros
                value = torch.zeros_like(ids)
            feed[name] = np.ascontiguousarray(value.detach().cpu().numpy(), dtype=np.int64)
        (out,) = self.session.run(None, feed)
        return SimpleNamespace(**{self.field: torch.from_numpy(out)})


def _write_onnx(encoder: Any, inputs: list[str], field: str, path: Path) -> None:
    """Export ``encoder`` (its ``inputs`` in, its ``field`` out) with dynamic batch and sequence length, atomically
    into ``path``."""
    import torch

    sample = _probe(encoder, 3, 17, padded=True)
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    with atomic_path(path) as tmp:
        with warnings.catch_warnings(), quiet_logger("torch.onnx"), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _field_module(encoder, inputs, field),
                tuple(sample[n] for n in inputs),
                str(tmp),
                input_names=inputs,
                output_names=[field],
                dynamic_shapes={n: {0: batch, 1: length} for n in inputs},
                dynamo=True,
                external_data=False,
                verbose=False,
            )


def _quantize_onnx(plain: Path, path: Path) -> None:
    """ONNX Runtime's dynamic int8 quantization (per output channel) of the weight products outside the first
    transformer layer, as :func:`quantize_linear` does in PyTorch; atomically into ``path``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(plain)).graph
    weights = {w.name for w in graph.initializer}

    def scopes(node: Any) -> str:
        return next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "")

    chosen = [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and len(n.input) > 1 and n.input[1] in weights and not FIRST_LAYER.search(scopes(n))
    ]
    with atomic_path(path) as tmp, quiet_logger():
        quantize_dynamic(
            str(plain),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_quantize=chosen,
        )


@contextlib.contextmanager
def quiet_logger(name: str | None = None) -> Iterator[None]:
    """Errors only from the logger ``name`` (None: the root logger, which ONNX Runtime's quantizer advises on and
    which ``logging.warning`` would give a handler of its own; none is left behind)."""
    root, handler = logging.getLogger(name), logging.NullHandler()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
        root.removeHandler(handler)


def onnx_module(backbone: OnnxBackbone) -> Any:
    """``backbone`` inside a parameter-less ``torch.nn.Module`` with one empty CPU parameter: the model's other
    code reads its device from ``parameters()`` and walks ``modules()``."""
    import torch

    class Onnx(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.empty(0), requires_grad=False)
            self.onnx = backbone

        def forward(self, **given: Any) -> Any:
            return self.onnx(**given)

    return Onnx()
