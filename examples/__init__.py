"""Example ONNX models: the source models of moecc's demos, tests and benchmarks.

They sit before the whole flow: each builder writes, with ``onnx.helper`` and numpy only, a small
but real-shaped transformer or MoE model in the form the PyTorch exporters emit (``Shape`` chains
for head splitting, decomposed norms and activations, ``Constant`` nodes next to initializers), so
the frontend and the pattern-raising passes meet exporter-shaped graphs without needing torch.
Builds are deterministic: the same sizes and seed give the same bytes.

Use::

    from moecc.examples import build_example, example_inputs, list_examples
    model = build_example("mixtral-block", seq=32, dynamic=True)
    feeds = example_inputs("mixtral-block", model, seed=0)

``examples/asm/`` holds hand-written moe-asic programs and is separate from these builders;
``examples/export_hf.py`` is a stand-alone script that exports real Hugging Face models with torch.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral
from types import MappingProxyType

import numpy as np
import onnx

from moecc.errors import MoeccError
from moecc.examples.bert import build_bert_layer
from moecc.examples.dense_moe import build_dense_moe
from moecc.examples.dense_moe_einsum import build_dense_moe_einsum
from moecc.examples.gpt2 import build_gpt2_block
from moecc.examples.llama import build_llama_block
from moecc.examples.mixtral import build_mixtral_block
from moecc.examples.moe_transformer import build_moe_transformer

SizeValue = int | str | bool


@dataclass(frozen=True, slots=True)
class ExampleSpec:
    """One example model: its builder, a one-line description and its size keywords.

    ``default_sizes`` are the builder's keyword defaults (small, for tests);
    ``realistic_sizes`` the same keys at benchmark scale (sequence >= 128, hidden >= 256).
    """

    name: str
    builder: Callable[..., onnx.ModelProto]
    description: str
    default_sizes: Mapping[str, SizeValue]
    realistic_sizes: Mapping[str, SizeValue]


def _spec(
    name: str, builder: Callable[..., onnx.ModelProto], description: str, realistic: Mapping[str, SizeValue]
) -> ExampleSpec:
    defaults = {
        p.name: p.default
        for p in inspect.signature(builder).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = set(realistic) - set(defaults)
    if unknown:
        raise MoeccError(f"realistic sizes of example '{name}' name unknown keywords {sorted(unknown)}")
    return ExampleSpec(
        name=name,
        builder=builder,
        description=description,
        default_sizes=MappingProxyType(defaults),
        realistic_sizes=MappingProxyType({**defaults, **realistic}),
    )


EXAMPLES: dict[str, ExampleSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "gpt2-block",
            build_gpt2_block,
            "GPT-2 LM: token+position embeddings, decoder block (Conv1D/Gemm, causal Where, tanh-GELU), tied LM head",
            {"batch": 1, "seq": 128, "vocab": 2048, "hidden": 256, "heads": 4, "n_positions": 256, "n_layers": 2},
        ),
        _spec(
            "llama-block",
            build_llama_block,
            "Llama LM: decomposed RMSNorm, rotary GQA attention with Trilu causal mask, SwiGLU MLP, LM head",
            {"batch": 1, "seq": 128, "vocab": 2048, "hidden": 256, "heads": 4, "kv_heads": 2,
             "intermediate": 688, "max_positions": 256, "n_layers": 2},
        ),
        _spec(
            "mixtral-block",
            build_mixtral_block,
            "Mixtral LM: Llama attention + sparse MoE (router TopK, gathered expert weights, batched MatMul)",
            {"batch": 1, "seq": 128, "vocab": 2048, "hidden": 256, "heads": 4, "kv_heads": 2,
             "intermediate": 512, "n_experts": 8, "top_k": 2, "max_positions": 256, "n_layers": 2},
        ),
        _spec(
            "dense-moe",
            build_dense_moe,
            "Dense-masked MoE (TorchScript form): all experts computed, ScatterElements/OneHot top-k mask",
            {"batch": 1, "seq": 128, "hidden": 256, "intermediate": 512, "n_experts": 8, "top_k": 2},
        ),
        _spec(
            "dense-moe-einsum",
            build_dense_moe_einsum,
            "Dense-masked SwiGLU MoE (TorchScript form): stacked expert weights via Einsum, ScatterElements top-k",
            {"batch": 1, "seq": 128, "hidden": 256, "intermediate": 512, "n_experts": 8, "top_k": 2},
        ),
        _spec(
            "bert-layer",
            build_bert_layer,
            "BERT encoder: word+position+type embeddings, padding mask, bidirectional attention, erf-GELU",
            {"batch": 1, "seq": 128, "vocab": 2048, "hidden": 256, "heads": 4, "intermediate": 1024,
             "max_positions": 512, "n_layers": 2},
        ),
        _spec(
            "moe-transformer",
            build_moe_transformer,
            "The demo MoE transformer: 2 layers of GQA attention + 4-expert top-2 sparse MoE, hidden 64",
            {"batch": 1, "seq": 128, "vocab": 2048, "hidden": 256, "heads": 4, "kv_heads": 2,
             "intermediate": 512, "n_experts": 8, "top_k": 2, "max_positions": 256},
        ),
    )
}


def _lookup(name: str) -> ExampleSpec:
    spec = EXAMPLES.get(name)
    if spec is None:
        raise MoeccError(
            f"unknown example '{name}'",
            remedy="choose one of: " + ", ".join(EXAMPLES),
        )
    return spec


def _check_option(example: str, key: str, value: object, default: SizeValue) -> None:
    if isinstance(default, bool):
        ok = isinstance(value, (bool, np.bool_))
    elif isinstance(default, int):
        ok = isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))
    else:
        ok = isinstance(value, str)
    if not ok:
        kind = {bool: "a bool", int: "an int", str: "a string"}[type(default)]
        raise MoeccError(
            f"example '{example}': size '{key}' must be {kind}, not {value!r}",
            remedy=f"pass e.g. {key}={default!r}",
        )


def build_example(name: str, **sizes: SizeValue) -> onnx.ModelProto:
    """Build example ``name`` with its default sizes overridden by ``sizes``.

    Raises :class:`MoeccError` for an unknown name (listing the valid ones), an unknown size
    keyword (listing the valid ones), a value of the wrong type, or sizes that do not fit together.
    """
    spec = _lookup(name)
    unknown = sorted(set(sizes) - set(spec.default_sizes))
    if unknown:
        raise MoeccError(
            f"example '{name}' has no size(s) {unknown}",
            remedy="valid keywords: " + ", ".join(spec.default_sizes),
        )
    for key, value in sizes.items():
        _check_option(name, key, value, spec.default_sizes[key])
    coerced = {k: (int(v) if isinstance(v, Integral) and not isinstance(v, bool) else v) for k, v in sizes.items()}
    return spec.builder(**coerced)


def list_examples() -> list[tuple[str, str]]:
    """``(name, description)`` of every example, in registry order."""
    return [(spec.name, spec.description) for spec in EXAMPLES.values()]


def realistic_sizes(name: str) -> dict[str, SizeValue]:
    """Benchmark-scale keywords for ``build_example(name, **...)`` (seq >= 128, hidden >= 256)."""
    return dict(_lookup(name).realistic_sizes)


def _recorded_sizes(name: str, model: onnx.ModelProto) -> dict[str, SizeValue]:
    """Default sizes updated with those recorded in the model's ``moecc.sizes`` metadata."""
    sizes = dict(_lookup(name).default_sizes)
    props = {p.key: p.value for p in model.metadata_props}
    recorded_name = props.get("moecc.example")
    if recorded_name is not None and recorded_name != name:
        raise MoeccError(
            f"the model was built as example '{recorded_name}', not '{name}'",
            remedy=f"call example_inputs('{recorded_name}', model)",
        )
    if "moecc.sizes" in props:
        sizes.update(json.loads(props["moecc.sizes"]))
    return sizes


def example_inputs(name: str, model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Valid, deterministic inputs for ``model`` (built as example ``name``).

    Token ids lie within the vocabulary, token types within ``type_vocab``, attention masks are
    0/1 right-padding masks whose first row is unpadded; hidden states are N(0, 1) float32.
    Symbolic dims (``"batch"``, ``"seq"``) take the sizes the model was built with.
    """
    sizes = _recorded_sizes(name, model)
    rng = np.random.default_rng(seed)
    initializers = {init.name for init in model.graph.initializer}
    feeds: dict[str, np.ndarray] = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        shape: list[int] = []
        for d in value.type.tensor_type.shape.dim:
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            elif d.dim_param in sizes and isinstance(sizes[d.dim_param], int):
                shape.append(int(sizes[d.dim_param]))
            else:
                raise MoeccError(
                    f"input '{value.name}' has symbolic dim '{d.dim_param}' with no recorded size",
                    location=f"example '{name}'",
                    remedy="build the model with moecc.examples.build_example",
                )
        feeds[value.name] = _input_values(name, value.name, shape, sizes, rng)
    return feeds


def _input_values(
    example: str, input_name: str, shape: list[int], sizes: Mapping[str, SizeValue], rng: np.random.Generator
) -> np.ndarray:
    if input_name == "input_ids":
        return rng.integers(0, int(sizes["vocab"]), size=shape, dtype=np.int64)
    if input_name == "token_type_ids":
        return rng.integers(0, int(sizes["type_vocab"]), size=shape, dtype=np.int64)
    if input_name == "attention_mask":
        batch, seq = shape
        lengths = rng.integers(max(1, seq // 2), seq + 1, size=batch)
        lengths[0] = seq
        return (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
    if input_name == "hidden_states":
        return rng.standard_normal(shape).astype(np.float32)
    raise MoeccError(f"example '{example}' has no input named '{input_name}'")


__all__ = [
    "EXAMPLES",
    "ExampleSpec",
    "build_example",
    "example_inputs",
    "list_examples",
    "realistic_sizes",
]
