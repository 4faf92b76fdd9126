"""Export small, randomly initialised Hugging Face models to ONNX, with onnxruntime reference outputs.

A stand-alone developer script: nothing in moecc imports it and CI does not run it. It makes the
real exporter output that the hand-built examples in :mod:`moecc.examples` imitate, for local
checks of the frontend and the back ends (see docs/architecture.md and the README's "Tests" section;
``scripts/check_hf_exports.py`` compiles these exports with moecc and compares them with
onnxruntime). No weights are downloaded: every model is built from a small config with a fixed
seed.

Requirements (CPU-only torch build, no CUDA packages), in a virtualenv of their own, never in the
project's ``.venv``::

    pip install torch==2.13.0 transformers onnxscript onnxruntime

Usage::

    python examples/export_hf.py --out /tmp/hf_exports            # every model
    python examples/export_hf.py --out /tmp/hf_exports --models llama mixtral --seq 32 --dynamic
    python examples/export_hf.py --out /tmp/hf_big --models mixtral --batch 1 --seq 128 --hidden 256 --experts 8
    python examples/export_hf.py --out /tmp/hf_l4 --models llama gpt2 --batch 1 --seq 128 --hidden 256 --layers 4

For each model ``NAME`` it writes ``NAME.onnx`` (dynamo exports keep their weights beside it in
``NAME.onnx.data``) and ``NAME.npz`` holding the inputs (``input:<name>``) and the onnxruntime
outputs (``output:<name>``), and prints the largest difference between onnxruntime and eager
PyTorch. ``--dynamic`` exports batch and sequence as symbolic dims (``batch``, ``seq``). Exports:

- ``gpt2``, ``bert``, ``llama`` (grouped-query attention), ``mixtral``, ``qwen2-moe``,
  ``qwen3-moe``, ``olmoe``, ``granite-moe`` (top-k of the logits, then a softmax over them),
  ``gpt-oss`` (clamped SwiGLU experts with biases), ``deepseek-v3`` (sigmoid router with a
  selection bias and group-limited top-k, a shared expert; every layer MoE), ``phimoe``
  (Phi-3.5-MoE: ``sparsemixer`` routing, two masked-softmax argmax steps instead of a top-k):
  ``torch.onnx.export(..., dynamo=True, opset_version=18)``; the MoE configs use
  ``experts_implementation="batched_mm"`` (the grouped matmul kernel does not export).
- ``gpt2-ts``, ``llama-ts``: the same GPT-2 and Llama through the TorchScript exporter
  (``dynamo=False``, opset 17), with ``input_ids`` and a right-padded ``attention_mask`` as inputs
  and the logits as output ``output``. The mask must be an input: without one, transformers
  traces its packed-sequence check, whose ``aten::diff`` the TorchScript exporter cannot export.
- ``dense-moe``: a hand-written dense-masked MoE module through the TorchScript exporter
  (``dynamo=False``, opset 17), the form :mod:`moecc.examples.dense_moe` imitates.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is not a moecc dependency: imported only where a model is built
    from torch import nn

VOCAB = 256
HIDDEN = 64
HEADS = 4
KV_HEADS = 2
LAYERS = 2
MAX_POSITIONS = 128
EXPERTS = 4  # routed experts of the MoE configs (DeepSeek-V3's grouped routing keeps its 8)

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class Export:
    """One model to export: how to build it and its inputs, and which exporter form to use."""

    name: str
    make: Callable[[], nn.Module]
    inputs: Callable[[int, int, np.random.Generator], Feeds]  # (batch, seq, rng) -> feeds
    dynamo: bool = True
    opset: int = 18

    @property
    def exporter(self) -> str:
        """``"dynamo"`` or ``"torchscript"``, with the opset: how the ONNX file was made."""
        return f"{'dynamo' if self.dynamo else 'torchscript'}/{self.opset}"


@dataclass(frozen=True, slots=True)
class Exported:
    """An exported model: the ONNX file, the inputs it was exported with, what onnxruntime gives."""

    spec: Export
    model: nn.Module  # the eager model, in eval mode, to check the export at other shapes
    path: Path
    feeds: Feeds  # the inputs the ONNX graph kept, by name
    outputs: Feeds  # onnxruntime's outputs on ``feeds``, by ONNX output name
    eager_diff: float  # max |onnxruntime - eager PyTorch| over the first output


# ---------------------------------------------------------------------------------------------
# inputs


def _ids(batch: int, seq: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, VOCAB, size=(batch, seq), dtype=np.int64)


def _right_padded_mask(batch: int, seq: int, rng: np.random.Generator) -> np.ndarray:
    """Ones then zeros in each row; the first row is unpadded and no row is shorter than seq/2."""
    lengths = rng.integers(max(1, seq // 2), seq + 1, size=batch)
    lengths[0] = seq
    return (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)


def _ids_only(batch: int, seq: int, rng: np.random.Generator) -> Feeds:
    return {"input_ids": _ids(batch, seq, rng)}


def _ids_and_mask(batch: int, seq: int, rng: np.random.Generator) -> Feeds:
    return {"input_ids": _ids(batch, seq, rng), "attention_mask": _right_padded_mask(batch, seq, rng)}


def _bert_inputs(batch: int, seq: int, rng: np.random.Generator) -> Feeds:
    return {
        **_ids_and_mask(batch, seq, rng),
        "token_type_ids": rng.integers(0, 2, size=(batch, seq), dtype=np.int64),
    }


def _hidden_inputs(batch: int, seq: int, rng: np.random.Generator) -> Feeds:
    return {"hidden_states": rng.standard_normal((batch, seq, HIDDEN)).astype(np.float32)}


# ---------------------------------------------------------------------------------------------
# models


def _decoder_common() -> dict[str, Any]:
    return dict(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS, max_position_embeddings=MAX_POSITIONS, use_cache=False,
    )


def _gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    # GPT-2's default bos/eos ids (50256) lie outside the small vocabulary.
    config = GPT2Config(vocab_size=VOCAB, n_positions=MAX_POSITIONS, n_embd=HIDDEN, n_layer=LAYERS,
                        n_head=HEADS, use_cache=False, bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1)
    return GPT2LMHeadModel(config)


def _bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                        num_attention_heads=HEADS, intermediate_size=4 * HIDDEN,
                        max_position_embeddings=MAX_POSITIONS)
    return BertModel(config, add_pooling_layer=False)


def _llama() -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(intermediate_size=2 * HIDDEN, **_decoder_common()))


def _mixtral() -> nn.Module:
    from transformers import MixtralConfig, MixtralForCausalLM

    config = MixtralConfig(intermediate_size=2 * HIDDEN, num_local_experts=EXPERTS, num_experts_per_tok=2,
                           experts_implementation="batched_mm", **_decoder_common())
    return MixtralForCausalLM(config)


def _qwen2_moe() -> nn.Module:
    from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM

    config = Qwen2MoeConfig(intermediate_size=2 * HIDDEN, moe_intermediate_size=HIDDEN,
                            shared_expert_intermediate_size=2 * HIDDEN, num_experts=EXPERTS,
                            num_experts_per_tok=2, experts_implementation="batched_mm",
                            **_decoder_common())
    return Qwen2MoeForCausalLM(config)


def _qwen3_moe() -> nn.Module:
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    config = Qwen3MoeConfig(intermediate_size=2 * HIDDEN, moe_intermediate_size=HIDDEN, num_experts=EXPERTS,
                            num_experts_per_tok=2, norm_topk_prob=True, head_dim=HIDDEN // HEADS,
                            experts_implementation="batched_mm", **_decoder_common())
    return Qwen3MoeForCausalLM(config)


def _olmoe() -> nn.Module:
    from transformers import OlmoeConfig, OlmoeForCausalLM

    config = OlmoeConfig(intermediate_size=HIDDEN, num_experts=EXPERTS, num_experts_per_tok=2,
                         experts_implementation="batched_mm", **_decoder_common())
    return OlmoeForCausalLM(config)


def _granite_moe() -> nn.Module:
    from transformers import GraniteMoeConfig, GraniteMoeForCausalLM

    config = GraniteMoeConfig(intermediate_size=HIDDEN, num_local_experts=EXPERTS, num_experts_per_tok=2,
                              experts_implementation="batched_mm", **_decoder_common())
    return GraniteMoeForCausalLM(config)


def _gpt_oss() -> nn.Module:
    from transformers import GptOssConfig, GptOssForCausalLM

    config = GptOssConfig(intermediate_size=HIDDEN, num_local_experts=EXPERTS, num_experts_per_tok=2,
                          head_dim=HIDDEN // HEADS, sliding_window=MAX_POSITIONS,
                          experts_implementation="batched_mm", **_decoder_common())
    return GptOssForCausalLM(config)


def _deepseek_v3() -> nn.Module:
    """DeepSeek-V3 with MoE layers only (``first_k_dense_replace=0``), 8 routed experts in 4 groups
    (top-2 groups, top-2 experts), one shared expert, multi-head latent attention at small ranks.
    The router weight (zeros-initialised std 0.02 would leave every score near 0.5: near-ties) is
    redrawn wider and the selection bias (``e_score_correction_bias``, zero in a fresh model) drawn
    too, both from torch's global generator (seeded by :func:`build_model`)."""
    import torch
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    config = DeepseekV3Config(
        intermediate_size=2 * HIDDEN, moe_intermediate_size=HIDDEN // 2, n_routed_experts=8, n_group=4,
        topk_group=2, num_experts_per_tok=2, n_shared_experts=1, first_k_dense_replace=0, norm_topk_prob=True,
        routed_scaling_factor=2.5, q_lora_rank=32, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8,
        v_head_dim=16, experts_implementation="batched_mm", **{**_decoder_common(), "num_key_value_heads": HEADS})
    model = DeepseekV3ForCausalLM(config)
    with torch.no_grad():
        for layer in model.model.layers:
            router = layer.mlp.gate
            router.weight.normal_(0.0, 0.5)
            router.e_score_correction_bias.copy_(0.1 * torch.randn(router.e_score_correction_bias.shape))
    return model


def _phimoe() -> nn.Module:
    """Phi-3.5-MoE (``PhimoeForCausalLM``): LayerNorm, SwiGLU experts routed by ``sparsemixer``, whose
    eval-mode weights are softmaxes over the router logits masked where
    ``(threshold - logit) / max(|logit|, threshold) > 2 * router_jitter_noise`` (threshold: the largest
    logit, then the largest one left after masking the first expert). The real model's 0.01 masks every
    logit but the chosen one for about 95% of the tokens here (weights of exactly 1.0); 0.25 leaves a
    softmax over two or more experts for a quarter to a half of them. Default rope, not the real
    model's longrope."""
    from transformers import PhimoeConfig, PhimoeForCausalLM

    config = PhimoeConfig(intermediate_size=2 * HIDDEN, num_local_experts=EXPERTS, num_experts_per_tok=2,
                          router_jitter_noise=0.25, experts_implementation="batched_mm", **_decoder_common())
    return PhimoeForCausalLM(config)


def _logits_only(make: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    """A causal LM as ``(input_ids, attention_mask) -> logits`` for the TorchScript exporter, which
    passes inputs positionally (the LM's own ``forward`` has ``past_key_values`` second, and given
    keyword inputs the exporter made ``logits_to_keep`` a graph input) and wants plain tensors out."""

    def build() -> nn.Module:
        import torch
        from torch import nn

        class LogitsOnly(nn.Module):
            def __init__(self, lm: nn.Module) -> None:
                super().__init__()
                self.lm = lm

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                return self.lm(input_ids=input_ids, attention_mask=attention_mask).logits

        return LogitsOnly(make())

    return build


def _dense_moe() -> nn.Module:
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
        Export("qwen3-moe", _qwen3_moe, _ids_only),
        Export("olmoe", _olmoe, _ids_only),
        Export("granite-moe", _granite_moe, _ids_only),
        Export("gpt-oss", _gpt_oss, _ids_only),
        Export("deepseek-v3", _deepseek_v3, _ids_only),
        Export("phimoe", _phimoe, _ids_only),
        Export("gpt2-ts", _logits_only(_gpt2), _ids_and_mask, dynamo=False, opset=17),
        Export("llama-ts", _logits_only(_llama), _ids_and_mask, dynamo=False, opset=17),
        Export("dense-moe", _dense_moe, _hidden_inputs, dynamo=False, opset=17),
    )
}


# ---------------------------------------------------------------------------------------------
# exporting and running


def build_model(spec: Export, seed: int) -> nn.Module:
    """``spec``'s model with weights drawn from ``seed``, in eval mode (no dropout)."""
    import torch

    torch.manual_seed(seed)
    return spec.make().eval()


def eager_output(model: nn.Module, feeds: Feeds) -> np.ndarray:
    """The model's first output in eager PyTorch (``logits``, ``last_hidden_state`` or a plain
    tensor). The first feed is passed positionally, the others by name."""
    import torch

    names = list(feeds)
    with torch.no_grad():
        output = model(torch.from_numpy(feeds[names[0]]), **{k: torch.from_numpy(feeds[k]) for k in names[1:]})
    if isinstance(output, torch.Tensor):
        return output.numpy()
    tensor = getattr(output, "logits", None)
    if tensor is None:
        tensor = output.last_hidden_state
    return tensor.numpy()


def run_onnxruntime(path: Path, feeds: Feeds) -> tuple[Feeds, Feeds]:
    """Run ``path`` in onnxruntime on the CPU: ``(the feeds the graph takes, outputs by name)``.
    Inputs the exporter dropped as unused are left out of the first dict."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    used = {k: feeds[k] for k in (i.name for i in session.get_inputs())}
    output_names = [o.name for o in session.get_outputs()]
    return used, dict(zip(output_names, session.run(output_names, used), strict=True))


def _export(spec: Export, model: nn.Module, feeds: Feeds, path: Path, dynamic: bool) -> None:
    import torch

    names = list(feeds)
    tensors = {k: torch.from_numpy(v) for k, v in feeds.items()}
    symbolic = {0: "batch", 1: "seq"}
    with torch.no_grad():
        if spec.dynamo:
            torch.onnx.export(model, (tensors[names[0]],), str(path), kwargs={k: tensors[k] for k in names[1:]},
                              dynamo=True, opset_version=spec.opset, verbose=False,
                              dynamic_shapes={k: symbolic for k in names} if dynamic else None)
        else:
            axes = {k: symbolic for k in [*names, "output"]} if dynamic else None
            torch.onnx.export(model, tuple(tensors.values()), str(path), dynamo=False, opset_version=spec.opset,
                              input_names=names, output_names=["output"], dynamic_axes=axes)


def _write_npz(path: Path, arrays: Mapping[str, Any]) -> None:
    """Write ``arrays`` to ``path`` whole or not at all (through a temporary file beside it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def export_one(spec: Export, out_dir: Path, *, batch: int, seq: int, seed: int, dynamic: bool) -> Exported:
    """Export ``spec`` to ``out_dir/NAME.onnx``, run it in onnxruntime on inputs of ``(batch, seq)``
    drawn from ``seed``, and write those inputs and outputs to ``out_dir/NAME.npz``."""
    model = build_model(spec, seed)
    feeds = spec.inputs(batch, seq, np.random.default_rng(seed))
    path = out_dir / f"{spec.name}.onnx"
    _export(spec, model, feeds, path, dynamic)
    used, outputs = run_onnxruntime(path, feeds)
    _write_npz(out_dir / f"{spec.name}.npz",
               {**{f"input:{k}": v for k, v in used.items()}, **{f"output:{k}": v for k, v in outputs.items()}})
    eager_diff = float(np.abs(next(iter(outputs.values())) - eager_output(model, feeds)).max())
    return Exported(spec, model, path, used, outputs, eager_diff)


def _set_sizes(hidden: int, experts: int, layers: int = LAYERS) -> None:
    """The model sizes the config builders read (``--hidden``, ``--experts``, ``--layers``)."""
    global HIDDEN, EXPERTS, LAYERS
    if hidden % HEADS or hidden // HEADS % 2:
        raise SystemExit(f"--hidden {hidden}: must split into {HEADS} heads of an even size")
    if layers < 1:
        raise SystemExit(f"--layers {layers}: give at least one layer")
    HIDDEN, EXPERTS, LAYERS = hidden, experts, layers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for NAME.onnx and NAME.npz")
    parser.add_argument("--models", nargs="+", choices=list(EXPORTS), default=list(EXPORTS))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dynamic", action="store_true", help="export batch and seq as symbolic dims")
    parser.add_argument("--hidden", type=int, default=HIDDEN, help=f"hidden size (default {HIDDEN})")
    parser.add_argument("--experts", type=int, default=EXPERTS, help=f"routed experts of the MoE models (default {EXPERTS})")
    parser.add_argument("--layers", type=int, default=LAYERS, help=f"decoder/encoder layers (default {LAYERS})")
    ns = parser.parse_args(argv)
    _set_sizes(ns.hidden, ns.experts, ns.layers)
    ns.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for name in ns.models:
        try:
            done = export_one(EXPORTS[name], ns.out, batch=ns.batch, seq=ns.seq, seed=ns.seed, dynamic=ns.dynamic)
        except Exception as err:  # keep going: one model's exporter failure should not hide the others
            failures += 1
            print(f"{name}: export failed: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        print(f"{name}: {done.path} ({done.spec.exporter}, outputs {', '.join(done.outputs)}), "
              f"max |ort - torch| = {done.eager_diff:.3g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
