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

To add a result kind: a model here (ResultModel), its engine in reportgen/measuring/kinds/.
"""
from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model


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


def kind_model(name: str, doc: str, fields: str, **typed) -> type[ResultModel]:
    """A result model with `fields` (names, in the order of the keys): any value, absent until given,
    except those `typed` as name=(type, default)."""
    names = fields.split()
    assert set(typed) <= set(names), set(typed) - set(names)
    return create_model(name, __base__=ResultModel, __doc__=doc,
                        **{n: typed.get(n, (Any, None)) for n in names})


RunFailure = kind_model("RunFailure", "A failed run: which, and why.", "run cause")

# ---- bench ------------------------------------------------------------------------------------

Sampling = kind_model("Sampling", "When a comparison group stops sampling (kinds.bench.Sampling).",
                      "precision context_precision budget_s min_sessions max_sessions session_rounds layouts layout_heap")

BenchRow = kind_model(
    "BenchRow", "One allocator of a comparison group.",
    "variant kind samples rounds median best3of5 best3of5_label ci95 q1 q3 iqr cv n warnings ns_per_op counters "
    "counts counted_failure failures source_hash session created reused memory build layouts",
    variant=(str, ...), failures=(Optional[list[RunFailure]], None))

Comparison = kind_model(
    "Comparison", "A candidate against the baseline over sessions (stats.compare_sessions), with its role and target.",
    "baseline candidate role session target pairs paired ratio ci95 speedup speedup_ci95 p_value min_p_value "
    "verdict reason mde power_note warnings n_baseline n_candidate higher_is_better alpha noise_floor half_width "
    "precision_reached p_adjusted family_size sessions session_sd round_sd between_sd interval_level underpowered "
    "needed_sessions pace session_ci95 state_dependent mode_effects measurements between_measurements_sd memory session_half_width "
    "layouts per_layout layout_sd layout_heterogeneity_p layout_robust layout_reason",
    baseline=(str, ...), candidate=(str, ...))

BenchResult = kind_model(
    "BenchResult", "`reportgen bench --json`: one comparison group, from one measurement of several sessions.",
    "workload ops values_per_run threads sizes program unit session sessions session_rounds noise stop_reason stop rounds "
    "elapsed_s sampling results comparisons contrasts reused measured_now builds",
    workload=(str, ...), sampling=(Optional[Sampling], None), results=(list[BenchRow], Field(default_factory=list)),
    comparisons=(list[Comparison], Field(default_factory=list)),
    contrasts=(list[Comparison], Field(default_factory=list)))

# ---- route ------------------------------------------------------------------------------------

RouteSize = kind_model("RouteSize", "One request size: its predicted and measured pool, count and time alone.",
                       "size predicted measured count ns_per_op_alone ns_per_op_alone_runs pool_allocs_alone "
                       "block_footprint usable")

PoolShares = kind_model("PoolShares", "A pool's share of the workload by count, bytes and time.",
                        "count_share byte_share time_share count_share_by_size")

RouteResult = kind_model(
    "RouteResult", "`reportgen route --json`: a workload's routing on a project variant.",
    "workload variant ops thresholds sizes pools counters amdahl time_model time_share_withheld config failures "
    "source_hash reused",
    workload=(str, ...), variant=(str, ...), sizes=(list[RouteSize], Field(default_factory=list)),
    pools=(dict[str, PoolShares], Field(default_factory=dict)), failures=(Optional[list[RunFailure]], None))

# ---- header cost --------------------------------------------------------------------------------

Chain = kind_model("Chain", "ns per free with and without the header read (median and minimum of the reps).",
                   "with_ without min_with min_without", with_=(Any, Field(None, alias="with")))

TimePoint = kind_model(
    "TimePoint", "One working set of the header-cost kernel.",
    "working_set_bytes ns_with_header ns_without_header header_ns dependent independent independent_header_ns "
    "blocks ops_per_rep reps bad_magic",
    dependent=(Optional[Chain], None), independent=(Optional[Chain], None))

SpaceRow = kind_model("SpaceRow", "The block one request really takes, per variant.",
                      "variant request pool block header_bytes usable overhead_bytes overhead_ratio",
                      variant=(str, ...))

HeaderCostResult = kind_model(
    "HeaderCostResult", "`reportgen header-cost --json`: the header read's time over working sets, and the space "
    "per block.",
    "caches time space stride_bytes quick reps min_ops failures reused method",
    time=(list[TimePoint], Field(default_factory=list)), space=(list[SpaceRow], Field(default_factory=list)))

# ---- exact counts (callgrind) and change coverage (gcov) -----------------------------------------

CountsRow = kind_model(
    "CountsRow", "One allocator's exact counts over the timed loop (callgrind), totals and per operation.",
    "variant kind instructions_per_op per_op per_free groups functions source_functions total ops runs identical "
    "run_totals source_hash driver_hash failures reused",
    variant=(str, ...), failures=(Optional[list[RunFailure]], None))

CountsDelta = kind_model(
    "CountsDelta", "A candidate's counts against the baseline's (candidate minus baseline).",
    "baseline candidate delta_instructions_per_op delta_instructions_per_free delta_d1_misses_per_op "
    "delta_d1_misses_per_free delta_ll_misses_per_op delta_ll_misses_per_free",
    baseline=(str, ...), candidate=(str, ...))

CountsResult = kind_model(
    "CountsResult", "`reportgen counts --json`: exact counts of a workload's timed loop per allocator.",
    "workload ops threads cache_sim valgrind results comparisons failures method reused",
    workload=(str, ...), results=(list[CountsRow], Field(default_factory=list)),
    comparisons=(list[CountsDelta], Field(default_factory=list)))

CoverageLine = kind_model(
    "CoverageLine", "One changed source line and how many times a variant's coverage build executed it.",
    "file line count text function marker")

CoverageRun = kind_model(
    "CoverageRun", "One variant's coverage run of one workload: its changed lines with their counts.",
    "workload variant ops lines executed never compiled_out functions markers failures reused",
    lines=(list[CoverageLine], Field(default_factory=list)))

CoverageResult = kind_model(
    "CoverageResult", "`reportgen coverage --json`: the lines a phase changes and how often each workload ran them.",
    "phase baseline candidate changed workloads runs failures method reused",
    runs=(list[CoverageRun], Field(default_factory=list)))

ProfileSymbol = kind_model("ProfileSymbol", "One symbol of a profile: its samples, share and the share's 95% interval.",
                           "symbol dso samples share share_ci95 kernel")

ProfileRow = kind_model(
    "ProfileRow", "One allocator's profile of the timed loops.",
    "variant samples event freq ops elapsed_ns symbols failures reused",
    variant=(str, ...), symbols=(list[ProfileSymbol], Field(default_factory=list)))

ProfileResult = kind_model(
    "ProfileResult", "`reportgen profile --json`: CPU profiles of a workload's timed loops per allocator.",
    "workload ops event freq results failures method reused",
    workload=(str, ...), results=(list[ProfileRow], Field(default_factory=list)))

# ---- a phase ------------------------------------------------------------------------------------

class PhaseResults(ResultModel):
    """A phase's results (plan.assemble): the kinds' results placed by workload and variant."""
    phase: str
    quick: bool = False
    bench: dict[str, Any] = Field(default_factory=dict)          # workload -> BenchResult
    route: dict[str, Any] = Field(default_factory=dict)          # workload -> variant -> RouteResult
    header_cost: Any = None                                      # HeaderCostResult or None
    counts: dict[str, Any] = Field(default_factory=dict)         # workload -> CountsResult
    coverage: Any = None                                         # CoverageResult or None
    profile: dict[str, Any] = Field(default_factory=dict)        # workload -> ProfileResult
    layout_aa: Any = None                                        # BenchResult of the layout A/A, or None
    placement: dict[str, Any] = Field(default_factory=dict)      # workload -> PlacementResult
    offsets: dict[str, Any] = Field(default_factory=dict)        # workload -> BenchResult, block offsets drawn
    sweep: dict[str, Any] = Field(default_factory=dict)          # workload -> param -> SweepResult
    programs: dict[str, Any] = Field(default_factory=dict)       # program workload -> BenchResult
    failures: list[Any] = Field(default_factory=list)
    unavailable: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)

    def dump(self) -> dict:
        return self.model_dump()


# ---- sweeps ----------------------------------------------------------------------------------

SweepPoint = kind_model(
    "SweepPoint", "One value of a sweep: its comparison group's rows and comparisons (as in BenchResult).",
    "value threads_over_cores results comparisons contrasts sessions ops reused session from_bench",
    results=(list[BenchRow], Field(default_factory=list)), comparisons=(list[Comparison], Field(default_factory=list)),
    contrasts=(list[Comparison], Field(default_factory=list)))

SweepResult = kind_model(
    "SweepResult", "`reportgen sweep --json`: one parameter of a workload over several values (kinds.sweep).",
    "workload param values cores points family failures",
    workload=(str, ...), points=(list[SweepPoint], Field(default_factory=list)))

# ---- placement -------------------------------------------------------------------------------

PlacementResult = kind_model(
    "PlacementResult", "`reportgen.measuring.kinds.placement`: which cache sets a gap workload's live blocks fall in, per "
    "allocator (reportgen.measuring.layouts.cachesets).",
    "workload sizes slots seed warmup_ops geometry allocators failures reused", workload=(str, ...))

KINDS = {"bench": BenchResult, "route": RouteResult, "header_cost": HeaderCostResult, "counts": CountsResult,
         "coverage": CoverageResult,
         "profile": ProfileResult, "placement": PlacementResult, "sweep": SweepResult}


def field_lists() -> str:
    """The markdown list of every result model's fields, in order (docs/json.md holds it verbatim)."""
    models = [BenchResult, BenchRow, Comparison, Sampling, RunFailure, RouteResult, RouteSize, PoolShares,
              HeaderCostResult, TimePoint, Chain, SpaceRow, CountsResult, CountsRow, CountsDelta, CoverageResult,
              CoverageRun, CoverageLine, ProfileResult, ProfileRow, ProfileSymbol, PlacementResult, SweepResult,
              SweepPoint, PhaseResults]
    lines = [f"- `{m.__name__}` (version {m.SCHEMA_VERSION}): " + ", ".join(f"`{n}`" for n in m.field_names())
             for m in models]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":   # python -m reportgen.results: the field lists for docs/json.md
    print(field_lists(), end="")
