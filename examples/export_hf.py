"""Export small, randomly initialised Hugging Face models to ONNX, with onnxruntime reference outputs.

A stand-alone developer script: nothing in moecc imports it and CI does not run it. It makes the
real exporter output that the hand-built examples in :mod:`moecc.examples` imitate, for local
checks of the frontend and the pattern-raising passes (see DESIGN.md, "Real models for local
checks"). No weights are downloaded: every model is built from a small config with a fixed seed.

Requirements (CPU-only torch build, no CUDA packages)::

    pip install torch==2.13.0 transformers onnxscript onnxruntime

Usage::

    python examples/export_hf.py --out /tmp/hf_exports            # every model
    python examples/export_hf.py --out /tmp/hf_exports --models llama mixtral --seq 32 --dynamic

For each model ``NAME`` it writes ``NAME.onnx`` and ``NAME.npz`` holding the inputs
(``input:<name>``) and the onnxruntime outputs (``output:<name>``), and prints the largest
difference between onnxruntime and eager PyTorch. Exports:

- ``gpt2``, ``bert``, ``llama``, ``mixtral``, ``qwen2-moe``: ``torch.onnx.export(..., dynamo=True,
  opset_version=18)``; the MoE configs use ``experts_implementation="batched_mm"`` (the grouped
  matmul kernel does not export).
- ``dense-moe``: a hand-written dense-masked MoE module through the TorchScript exporter
  (``dynamo=False``, opset 17), the form :mod:`moecc.examples.dense_moe` imitates.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VOCAB = 256
HIDDEN = 64
HEADS = 4
KV_HEADS = 2
LAYERS = 2
MAX_POSITIONS = 128


@dataclass(frozen=True, slots=True)
class Export:
    """One model to export: how to build it, and which exporter form to use."""

    name: str
    make: Callable[[], Any]
    inputs: Callable[[Any, int, int, np.random.Generator], dict[str, np.ndarray]]
    dynamo: bool = True
    opset: int = 18


def _ids_only(model: Any, batch: int, seq: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"input_ids": rng.integers(0, VOCAB, size=(batch, seq), dtype=np.int64)}


def _bert_inputs(model: Any, batch: int, seq: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    lengths = rng.integers(max(1, seq // 2), seq + 1, size=batch)
    lengths[0] = seq
    return {
        "input_ids": rng.integers(0, VOCAB, size=(batch, seq), dtype=np.int64),
        "attention_mask": (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64),
        "token_type_ids": rng.integers(0, 2, size=(batch, seq), dtype=np.int64),
    }


def _hidden_inputs(model: Any, batch: int, seq: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"hidden_states": rng.standard_normal((batch, seq, HIDDEN)).astype(np.float32)}


def _decoder_common() -> dict[str, Any]:
    return dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS, max_position_embeddings=MAX_POSITIONS, use_cache=False,
    )


def _gpt2() -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=VOCAB, n_positions=MAX_POSITIONS, n_embd=HIDDEN, n_layer=LAYERS,
                        n_head=HEADS, use_cache=False)
    return GPT2LMHeadModel(config)


def _bert() -> Any:
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                        num_attention_heads=HEADS, intermediate_size=4 * HIDDEN,
                        max_position_embeddings=MAX_POSITIONS)
    return BertModel(config, add_pooling_layer=False)


def _llama() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(intermediate_size=2 * HIDDEN, **_decoder_common()))


def _mixtral() -> Any:
    from transformers import MixtralConfig, MixtralForCausalLM

    config = MixtralConfig(intermediate_size=2 * HIDDEN, num_local_experts=4, num_experts_per_tok=2,
                           experts_implementation="batched_mm", **_decoder_common())
    return MixtralForCausalLM(config)


def _qwen2_moe() -> Any:
    from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM

    config = Qwen2MoeConfig(intermediate_size=2 * HIDDEN, moe_intermediate_size=HIDDEN,
                            shared_expert_intermediate_size=2 * HIDDEN, num_experts=4,
                            num_experts_per_tok=2, experts_implementation="batched_mm",
                            **_decoder_common())
    return Qwen2MoeForCausalLM(config)


def _dense_moe() -> Any:
    import torch
    from torch import nn

    class DenseMaskedMoE(nn.Module):
        """Every expert on every token; a top-k mask keeps the selected ones."""

        def __init__(self, hidden: int, intermediate: int, n_experts: int, top_k: int) -> None:
            super().__init__()
            self.top_k = top_k
            self.gate = nn.Linear(hidden, n_experts, bias=False)
            self.experts = nn.ModuleList(
                nn.Sequential(nn.Linear(hidden, intermediate), nn.ReLU(), nn.Linear(intermediate, hidden))
                for _ in range(n_experts)
            )

        def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
            probs = torch.softmax(self.gate(hidden_states), dim=-1)
            _, idx = torch.topk(probs, self.top_k, dim=-1)
            mask = torch.zeros_like(probs).scatter(-1, idx, 1.0)
            weights = probs * mask
            weights = weights / weights.sum(dim=-1, keepdim=True)
            outs = torch.stack([expert(hidden_states) for expert in self.experts], dim=2)
            return (outs * weights.unsqueeze(-1)).sum(dim=2)

    return DenseMaskedMoE(HIDDEN, 2 * HIDDEN, n_experts=4, top_k=2)


EXPORTS: dict[str, Export] = {
    e.name: e
    for e in (
        Export("gpt2", _gpt2, _ids_only),
        Export("bert", _bert, _bert_inputs),
        Export("llama", _llama, _ids_only),
        Export("mixtral", _mixtral, _ids_only),
        Export("qwen2-moe", _qwen2_moe, _ids_only),
        Export("dense-moe", _dense_moe, _hidden_inputs, dynamo=False, opset=17),
    )
}


def _eager_output(output: Any) -> np.ndarray:
    """The first tensor of a model output (``logits``, ``last_hidden_state`` or a plain tensor)."""
    tensor = output[0] if isinstance(output, (tuple, list)) else getattr(output, "logits", None)
    if tensor is None:
        tensor = getattr(output, "last_hidden_state", output)
    return tensor.detach().numpy()


def export_one(spec: Export, out_dir: Path, *, batch: int, seq: int, seed: int, dynamic: bool) -> None:
    """Export ``spec`` to ``out_dir/NAME.onnx`` and write ``NAME.npz`` with onnxruntime outputs."""
    import onnxruntime as ort
    import torch

    torch.manual_seed(seed)
    model = spec.make().eval()
    feeds = spec.inputs(model, batch, seq, np.random.default_rng(seed))
    names = list(feeds)
    tensors = {k: torch.from_numpy(v) for k, v in feeds.items()}
    args, kwargs = (tensors[names[0]],), {k: tensors[k] for k in names[1:]}
    path = out_dir / f"{spec.name}.onnx"

    with torch.no_grad():
        expected = _eager_output(model(*args, **kwargs))
        if spec.dynamo:
            dynamic_shapes = None
            if dynamic:
                dynamic_shapes = {k: {0: "batch", 1: "seq"} for k in names}
            torch.onnx.export(model, args, str(path), kwargs=kwargs, dynamo=True,
                              opset_version=spec.opset, dynamic_shapes=dynamic_shapes)
        else:
            axes = {k: {0: "batch", 1: "seq"} for k in names} if dynamic else None
            if axes is not None:
                axes["output"] = {0: "batch", 1: "seq"}
            torch.onnx.export(model, args, str(path), dynamo=False, opset_version=spec.opset,
                              input_names=names, output_names=["output"], dynamic_axes=axes)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_names = {i.name for i in session.get_inputs()}
    ort_feeds = {k: v for k, v in feeds.items() if k in input_names}
    output_names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(output_names, session.run(output_names, ort_feeds)))

    arrays = {f"input:{k}": v for k, v in ort_feeds.items()}
    arrays.update({f"output:{k}": v for k, v in outputs.items()})
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".npz", dir=out_dir)
    os.close(fd)
    np.savez(tmp, **arrays)
    os.replace(tmp, out_dir / f"{spec.name}.npz")

    diff = float(np.abs(outputs[output_names[0]] - expected).max())
    print(f"{spec.name}: {path} ({len(output_names)} outputs), max |ort - torch| = {diff:.3g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for NAME.onnx and NAME.npz")
    parser.add_argument("--models", nargs="+", choices=list(EXPORTS), default=list(EXPORTS))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dynamic", action="store_true", help="export batch and seq as symbolic dims")
    ns = parser.parse_args(argv)
    ns.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for name in ns.models:
        try:
            export_one(EXPORTS[name], ns.out, batch=ns.batch, seq=ns.seq, seed=ns.seed, dynamic=ns.dynamic)
        except Exception as err:  # keep going: one model's exporter failure should not hide the others
            failures += 1
            print(f"{name}: export failed: {type(err).__name__}: {err}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
