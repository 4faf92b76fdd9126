"""ASIC staging: the target-neutral tiled IR onto the moe-asic kernel IR (stage ``stage-for-asic``).

| module | idea |
|---|---|
| ``params`` | the ``TilingParams`` ``lower-to-tiled`` uses for a moe-asic part |
| ``tiles`` | the kernel being built: buffers, temporaries, loops; 2-D regions read into / written from SRAM tiles |
| ``axes`` | an N-D statement as loops around 2-D regions (axis order and choice, merging, blocking) |
| ``context`` | dtypes, weights, limits; conversions between storage and compute dtypes |
| ``expressions`` | ``compute`` trees as VPU op sequences |
| ``statements`` | copy, reduce, gather, top-k, loops (a loop around one statement coalesced into it) |
| ``matmul`` | contractions on the MXU (batch folded into rows, operands resident or loaded in blocks before loops) |
| ``buffering`` | multi-buffering of innermost loops (iteration-private tiles get slots) |
| ``host`` | kernels left to the host and host calls |
| ``private`` | global temporaries only one kernel touches made its locals (row-major or in column blocks) |
| ``blocks`` | a kernel's run of element-wise statements done block by block; chunked row reductions joined |
| ``webs`` | live ranges of a local through a non-dense view given dense buffers of their own |
| ``module`` | the whole module; ``stage`` the stage pass |
"""

from moecc.backend.asic.staging.params import asic_tiling_params
from moecc.backend.asic.staging.module import StagedModule, stage_module
from moecc.backend.asic.staging.host import HostKernelStep, host_kernel_steps
from moecc.backend.asic.staging.tiles import NotStageable
from moecc.backend.asic.staging import stage as _stage  # noqa: F401  (registers stage-for-asic)

__all__ = ["HostKernelStep", "NotStageable", "StagedModule", "asic_tiling_params", "host_kernel_steps", "stage_module"]
