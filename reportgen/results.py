"""The result kinds: one definition each (bench, route, header cost, a phase's results), versioned.

What `run_bench`, `run_route` and `run_header_cost` return, what `--json`
prints, what the store keeps inside its records, what the renderer and the
test fixtures read: every one of them is shaped by the model here.  The order
of a model's fields is the documented order of the keys (records keep keys
sorted; `shape` gives a stored result its documented order back), and
docs/json.md lists these fields (tests/test_results.py holds the two together).

Values are kept exactly as measured (leaves are `Any`: an int stays an int,
a float a float), fields not listed ride along as extra detail, and a field
left out stays out (a fixture or an old record may hold only part of a
result).  SCHEMA_VERSION of a kind says which shape it is; a change of shape
bumps it and the store's record schema, with a migration of the older records
(store.MIGRATIONS).

To add a result kind: a model here (ResultModel), its engine in reportgen/kinds/.
"""
from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import BaseModel, ConfigDict, Field


class ResultModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    SCHEMA_VERSION: ClassVar[int] = 1

    @classmethod
    def shape(cls, data: dict) -> dict:
        """`data` in the documented shape and order (fields it does not hold stay out)."""
        return cls.model_validate(data).model_dump(exclude_unset=True, by_alias=True)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.alias or name for name, f in cls.model_fields.items()]


class RunFailure(ResultModel):
    run: Any = None
    cause: Any = None


# ---- bench ------------------------------------------------------------------------------------

class Sampling(ResultModel):
    precision: Any = None
    context_precision: Any = None
    budget_s: Any = None
    min_rounds: Any = None
    max_rounds: Any = None


class BenchRow(ResultModel):
    """One allocator of a comparison group."""
    variant: str
    kind: Any = None
    samples: Any = None
    rounds: Any = None
    median: Any = None
    best3of5: Any = None
    best3of5_label: Any = None
    ci95: Any = None
    q1: Any = None
    q3: Any = None
    iqr: Any = None
    cv: Any = None
    n: Any = None
    warnings: Any = None
    ns_per_op: Any = None
    counters: Any = None
    counts: Any = None
    counted_failure: Any = None
    failures: Optional[list[RunFailure]] = None
    source_hash: Any = None
    session: Any = None
    created: Any = None
    reused: Any = None
    build: Any = None


class Comparison(ResultModel):
    """A candidate against the baseline, by round (stats.compare, paired), with its role and target."""
    baseline: str
    candidate: str
    role: Any = None
    session: Any = None
    target: Any = None
    pairs: Any = None
    paired: Any = None
    ratio: Any = None
    ci95: Any = None
    speedup: Any = None
    speedup_ci95: Any = None
    p_value: Any = None
    min_p_value: Any = None
    verdict: Any = None
    reason: Any = None
    mde: Any = None
    power_note: Any = None
    warnings: Any = None
    n_baseline: Any = None
    n_candidate: Any = None
    higher_is_better: Any = None
    alpha: Any = None
    noise_floor: Any = None
    half_width: Any = None
    precision_reached: Any = None
    p_adjusted: Any = None
    family_size: Any = None


class BenchResult(ResultModel):
    """`reportgen bench --json`: one comparison group, from one session."""
    workload: str
    ops: Any = None
    values_per_run: Any = None
    threads: Any = None
    sizes: Any = None
    unit: Any = None
    session: Any = None
    stop_reason: Any = None
    stop: Any = None
    rounds: Any = None
    elapsed_s: Any = None
    sampling: Optional[Sampling] = None
    results: list[BenchRow] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)
    reused: Any = None
    measured_now: Any = None
    builds: Any = None


# ---- route ------------------------------------------------------------------------------------

class RouteSize(ResultModel):
    size: Any
    predicted: Any = None
    measured: Any = None
    count: Any = None
    ns_per_op_alone: Any = None
    ns_per_op_alone_runs: Any = None
    pool_allocs_alone: Any = None
    block_footprint: Any = None
    usable: Any = None


class PoolShares(ResultModel):
    count_share: Any = None
    byte_share: Any = None
    time_share: Any = None
    count_share_by_size: Any = None


class RouteResult(ResultModel):
    """`reportgen route --json`: a workload's routing on a project variant."""
    workload: str
    variant: str
    ops: Any = None
    thresholds: Any = None
    sizes: list[RouteSize] = Field(default_factory=list)
    pools: dict[str, PoolShares] = Field(default_factory=dict)
    counters: Any = None
    amdahl: Any = None
    time_model: Any = None
    config: Any = None
    failures: Optional[list[RunFailure]] = None
    source_hash: Any = None
    reused: Any = None


# ---- header cost --------------------------------------------------------------------------------

class Chain(ResultModel):
    with_: Any = Field(None, alias="with")
    without: Any = None
    min_with: Any = None
    min_without: Any = None


class TimePoint(ResultModel):
    working_set_bytes: Any
    ns_with_header: Any = None
    ns_without_header: Any = None
    header_ns: Any = None
    dependent: Optional[Chain] = None
    independent: Optional[Chain] = None
    independent_header_ns: Any = None
    blocks: Any = None
    ops_per_rep: Any = None
    reps: Any = None
    bad_magic: Any = None


class SpaceRow(ResultModel):
    variant: str
    request: Any = None
    pool: Any = None
    block: Any = None
    header_bytes: Any = None
    usable: Any = None
    overhead_bytes: Any = None
    overhead_ratio: Any = None


class HeaderCostResult(ResultModel):
    """`reportgen header-cost --json`: the header read's time over working sets, and the space per block."""
    caches: Any = None
    time: list[TimePoint] = Field(default_factory=list)
    space: list[SpaceRow] = Field(default_factory=list)
    stride_bytes: Any = None
    quick: Any = None
    reps: Any = None
    min_ops: Any = None
    failures: Any = None
    reused: Any = None
    method: Any = None


# ---- a phase ------------------------------------------------------------------------------------

class PhaseResults(ResultModel):
    """A phase's results (plan.assemble): the kinds' results placed by workload and variant."""
    phase: str
    quick: bool = False
    bench: dict[str, Any] = Field(default_factory=dict)          # workload -> BenchResult
    route: dict[str, Any] = Field(default_factory=dict)          # workload -> variant -> RouteResult
    header_cost: Any = None                                      # HeaderCostResult or None
    failures: list[Any] = Field(default_factory=list)
    unavailable: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)

    def dump(self) -> dict:
        return self.model_dump()


KINDS = {"bench": BenchResult, "route": RouteResult, "header_cost": HeaderCostResult}


def field_lists() -> str:
    """The markdown list of every result model's fields, in order (docs/json.md holds it verbatim)."""
    models = [BenchResult, BenchRow, Comparison, Sampling, RunFailure, RouteResult, RouteSize, PoolShares,
              HeaderCostResult, TimePoint, Chain, SpaceRow, PhaseResults]
    lines = [f"- `{m.__name__}` (version {m.SCHEMA_VERSION}): " + ", ".join(f"`{n}`" for n in m.field_names())
             for m in models]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":   # python -m reportgen.results: the field lists for docs/json.md
    print(field_lists(), end="")
