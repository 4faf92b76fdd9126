"""The CPU back end reading the tiled IR directly: one LLVM module per tiled module.

``memory`` (heap and scratch plans), ``dtypes`` and ``expr`` (element values), ``kernel``
(statements as loop nests), ``matmul_call`` (the packed sgemm), ``codegen`` (the module and
its segments), ``program`` (JIT and running), ``executable`` (the cpu target's executable),
``params`` (CPU tile sizes) and ``stage`` (``emit-llvm-tiled``). See docs/tiled_ir.md, "CPU
emission".
"""
