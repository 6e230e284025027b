"""Phase specs: one YAML file per investigation phase in phases/.

A spec holds what a person authors -- the question, the claim, which
allocators and workloads answer it, the hypotheses with a *check* over the
results, and the recommendations and conclusion -- and nothing measured.
Hypothesis statuses and evidence are computed (reportgen.hypotheses), never
typed.  Authored prose may quote measured values only through template
expressions such as ``{{ m("bench.mid_mt_gap.comparisons.hak-6b.speedup") | pct }}``,
which the renderer fills in from the measurements.

Every authored statement (the summary, each implication and recommendation, the conclusion)
names the hypotheses it rests on (`rests_on`, `summary_rests_on`, `conclusion_assumes`) or names
them by id in its text; an id the phase does not have is refused here, and reportgen.statements
flags on the page each statement a rejected or open hypothesis undercuts.

Validation errors become one UserError line naming the file, the field and
what was expected (exit 2).
"""
from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import UserError
from .measuring.native import POOL_NAMES
from .project import Project
from .yamlfile import read_yaml

# ---- the check language ------------------------------------------------------
#
# A check is a tree of plain YAML mappings:
#   {all: [CHECK, ...]}   every one holds            (3-valued: a missing metric -> inconclusive)
#   {any: [CHECK, ...]}   at least one holds
#   {not: CHECK}
#   {metric: PATH, op: OP, value: V}     compare a measured metric with an authored constant
#   {metric: PATH, op: OP, ref: PATH}    compare two measured metrics
#   {metric: PATH, op: within, value: [LO, HI]}
#                         the measured interval (e.g. a speedup_ci95) lies wholly inside [LO, HI]
#                         (a single number counts as the interval [x, x]; YAML .inf / -.inf for an open side).
#                         This is how "no difference" is stated: an equivalence margin the CI must fit in,
#                         never "no significant change", which only says the run could not tell.
# PATH is a dotted path into the phase's results view (see hypotheses.py), e.g.
#   bench.mid_mt_gap.hak-6b.counters.mutex_locks
#   bench.mid_mt_gap.comparisons.hak-6b.verdict
#   route.mid_mt_gap.hak-6b.sizes.1024.measured
#   header_cost.derived.delta_ns_median
OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "excludes", "within")
ROOTS = ("bench", "route", "header_cost", "claim", "impact", "counts", "coverage", "layout_aa", "placement",
         "offsets", "sweep", "programs")


def _has_nan(v) -> bool:
    if isinstance(v, float):
        return v != v
    if isinstance(v, (list, tuple)):
        return any(_has_nan(x) for x in v)
    return False


# A claimed relative speed-up: above -100% (the factor 1 + x must stay positive) and at most
# +10000%; finite (.inf / .nan make every route's Amdahl ceiling fail).
CLAIM_MIN, CLAIM_MAX = -1.0, 100.0


def _metric_path(v):
    if v is None:
        return v
    if not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)+", v):
        raise ValueError(f"a metric path is dotted names like bench.mid_mt_gap.hak-6b.median, got {v!r}")
    if v.split(".")[0] not in ROOTS:
        raise ValueError(f"a metric path starts with one of {', '.join(ROOTS)}, got {v!r}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Compare(_Strict):
    metric: str
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "excludes", "within"]
    value: Any = None
    ref: Optional[str] = None
    # A leaf may say what it shows, for the evidence line ("6-A on the single-threaded run").
    label: Optional[str] = None

    @model_validator(mode="after")
    def _one_operand(self):
        has_value = "value" in self.model_fields_set
        if has_value == (self.ref is not None):
            raise ValueError("a comparison needs exactly one of `value` (a constant) or `ref` (another metric)")
        if self.op in ("in", "not in") and has_value and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs `value` to be a list")
        if self.op in ("contains", "excludes") and has_value and isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} tests whether a measured interval [lo, hi] contains one number; "
                             "`value` must be a number")
        if _has_nan(self.value):
            raise ValueError("`value` must not be NaN (.nan): nothing compares with it")
        if self.op == "within" and has_value:
            v = self.value
            if not (isinstance(v, list) and len(v) == 2
                    and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                    and not any(x != x for x in v)):
                raise ValueError("op 'within' needs `value` to be an interval [lo, hi] of two numbers "
                                 "(.inf / -.inf for an open side)")
            if v[0] > v[1]:
                raise ValueError(f"op 'within' needs lo <= hi, got [{v[0]}, {v[1]}]")
        return self

    @field_validator("metric", "ref")
    @classmethod
    def _path(cls, v):
        return _metric_path(v)


class All(_Strict):
    all: list["Check"] = Field(min_length=1)


class Any_(_Strict):
    any: list["Check"] = Field(min_length=1)


class Not(_Strict):
    not_: "Check" = Field(alias="not")


Check = Union[Compare, All, Any_, Not]
All.model_rebuild()
Any_.model_rebuild()
Not.model_rebuild()


# ---- the spec --------------------------------------------------------------

class Mechanism(_Strict):
    """The code a claimed change removes or replaces, in the baseline: its share of the baseline's
    timed loop bounds what the change can give (reportgen.ceilings)."""
    title: str
    # Source functions of native/ (inlined or not: exact counts attribute each line to its function).
    functions: list[str] = Field(min_length=1)

    @field_validator("functions")
    @classmethod
    def _c_names(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if not re.fullmatch(r"[A-Za-z_]\w*", f)]
        if bad:
            raise ValueError(f"a mechanism's functions are C function names, got {', '.join(map(repr, bad))}")
        return v


class Claim(_Strict):
    text: str
    workload: str
    # The claimed relative speed-up of the candidate over the baseline on `workload`: +17..+27% -> 0.17, 0.27.
    low: float
    high: float
    # The pool the claimed change touches (its time share bounds what the change can give: Amdahl).
    pool: Literal[POOL_NAMES] = "mid"
    source: Optional[str] = None
    # The mechanism the claim credits (what the change removes from the baseline): its own ceiling.
    mechanism: Optional[Mechanism] = None

    @field_validator("low", "high")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"a claimed speed-up must be a finite number, got {v}")
        if not CLAIM_MIN < v <= CLAIM_MAX:
            raise ValueError(f"a claimed speed-up must lie in ({CLAIM_MIN:g}, {CLAIM_MAX:g}] "
                             f"(above -100%, at most +10000%), got {v}")
        return v

    @model_validator(mode="after")
    def _order(self):
        if self.low > self.high:
            raise ValueError(f"claim low ({self.low}) must not exceed high ({self.high})")
        return self


class Shown(_Strict):
    metric: str
    label: Optional[str] = None

    @field_validator("metric")
    @classmethod
    def _path(cls, v: str) -> str:
        _metric_path(v)
        return v


class Hypothesis(_Strict):
    id: str
    title: str
    statement: str
    check: Check
    # When this holds the data cannot decide (e.g. the runs are too noisy): the status is inconclusive.
    inconclusive_when: Optional[Check] = None
    # Authored consequence shown under the evidence.
    implication: Optional[str] = None
    # The hypotheses the implication rests on besides this one (which it always rests on):
    # the page flags the implication when one of them is not confirmed (reportgen.statements).
    rests_on: list[str] = Field(default_factory=list)
    # Phrases that name this hypothesis's mechanism in prose ("the header read adds"): an authored
    # statement that uses one rests on this hypothesis even when it does not list it.
    mentioned_as: list[str] = Field(default_factory=list)
    # Measured values shown with the evidence, not part of the check (e.g. the counts beside a timing).
    beside: list["Shown"] = Field(default_factory=list)


class ReferenceStatement(_Strict):
    """A figure a previous report stated, set beside what this product measured."""
    said: str
    metric: str
    low: float
    high: float
    scale: Literal["share", "ratio", "count", "raw"] = "share"
    # When the metric is a related measure, not the thing the statement names (the allocator's own
    # mutex counter against a profile's pthread_mutex symbols), say what it measures: the row is then
    # shown as indirect and can say whether this source explains the statement, never refute it.
    measured_as: Optional[str] = None

    @field_validator("metric")
    @classmethod
    def _path(cls, v):
        return _metric_path(v)

    @model_validator(mode="after")
    def _range(self):
        if self.low != self.low or self.high != self.high:
            raise ValueError("low and high must be numbers, not NaN (.nan)")
        if not math.isfinite(self.low) and not (self.low == -math.inf and math.isfinite(self.high)):
            raise ValueError(f"low must be finite (or -.inf below a finite high), got {self.low}")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class Excerpt(_Strict):
    title: str
    file: str = "native/mid.c"
    # Marker name (`// excerpt: NAME` .. `// end-excerpt`, or `/* hak:excerpt NAME */` .. `/* hak:end */`).
    marker: Optional[str] = None
    # Fallback: the body of this C function.
    function: Optional[str] = None
    variant: Optional[str] = None

    @model_validator(mode="after")
    def _something(self):
        if not self.marker and not self.function:
            raise ValueError("an excerpt needs a `marker` or a `function` name")
        return self

    @field_validator("file")
    @classmethod
    def _inside_native(cls, v: str) -> str:
        # the page quotes the file: only the allocator's own sources, never a path out of the project
        parts = Path(v).parts
        if Path(v).is_absolute() or ".." in parts or not parts or parts[0] != "native":
            raise ValueError(f"an excerpt's file is a path under native/ (e.g. native/mid.c), got {v!r}")
        return v


class ProfileEntry(_Strict):
    symbol: str
    # The share the profile showed for the symbol (0.0298 for "2.98%"): a quote, not a measurement.
    share: float = Field(ge=0, le=1)


class ReferenceProfile(_Strict):
    """A profile a previous report quoted (sample count and per-symbol shares), to say what it can resolve."""
    source: str
    event: Optional[str] = None
    samples: int = Field(gt=0)
    entries: list[ProfileEntry] = Field(min_length=1)


class SamplingSpec(_Strict):
    """When this phase's comparison groups stop sampling (reportgen.measuring.kinds.bench.Sampling; defaults there)."""
    precision: Optional[float] = Field(default=None, gt=0, lt=1)
    context_precision: Optional[float] = Field(default=None, gt=0, lt=1)
    budget_s: Optional[float] = Field(default=None, gt=0, le=86400)
    min_sessions: Optional[int] = Field(default=None, ge=3, le=10000)
    max_sessions: Optional[int] = Field(default=None, ge=3, le=10000)
    session_rounds: Optional[int] = Field(default=None, ge=2, le=10000)
    layouts: Optional[int] = Field(default=None, ge=1, le=64)


class ReferenceHypothesis(_Strict):
    """A hypothesis of the reference report, and the hypotheses of this phase that test it."""
    reference: str
    title: str
    ours: list[str] = Field(min_length=1)


class EvidenceSpec(_Strict):
    """The evidence that explains a phase (reportgen.measuring.kinds.counts, reportgen.measuring.kinds.coverage) and the
    authored design background shown before it."""
    # workloads whose timed loop is counted under callgrind (baseline, candidate and peers)
    counts: list[str] = Field(default_factory=list)
    # the lines the phase changes, executed per workload (a coverage build of baseline and candidate)
    coverage: bool = False
    # workloads profiled with perf (baseline and candidate)
    profile: list[str] = Field(default_factory=list)
    # gap workloads whose live blocks are mapped onto the cache sets (baseline, candidate, project peers)
    placement: list[str] = Field(default_factory=list)
    # what the baseline and the candidate do, in prose (no typed numbers)
    background: Optional[str] = None
    # the reference's hypotheses mapped to this phase's (their statuses are computed)
    reference_hypotheses: list[ReferenceHypothesis] = Field(default_factory=list)


class Sweep(_Strict):
    """One parameter of a phase workload over several values (reportgen.measuring.kinds.sweep): the baseline and
    the candidate compared at each, the points' sessions interleaved and Holm over the sweep.  A value
    equal to the workload's own is the phase's bench of it, not measured twice."""
    workload: str
    param: str
    values: list[int] = Field(min_length=2, max_length=32)


class Recommendation(_Strict):
    title: str
    text: str
    # The hypotheses the recommendation rests on: flagged on the page when one is not confirmed.
    rests_on: list[str] = Field(default_factory=list)


class Phase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$", max_length=64)
    title: str
    date: _dt.date
    status: Literal["planned", "investigating", "investigated", "accepted", "rejected", "superseded"]
    question: str
    summary: Optional[str] = None
    claim: Optional[Claim] = None
    baseline: str
    candidate: Optional[str] = None
    peers: list[str] = Field(default_factory=list)
    workloads: list[str] = Field(min_length=1)
    # Which workload's comparison is this phase's headline (history chart, timeline verdict).
    headline: Optional[str] = None
    header_cost: bool = False
    # parameters of the phase's workloads swept (speed-up, memory and counters against the parameter)
    sweeps: list[Sweep] = Field(default_factory=list)
    # real and stress programs (program workloads of workloads.yaml) run on the phase's allocators:
    # does the micro-benchmark's verdict carry over?
    programs: list[str] = Field(default_factory=list)
    sampling: Optional[SamplingSpec] = None
    evidence: Optional[EvidenceSpec] = None
    excerpts: list[Excerpt] = Field(default_factory=list)
    reference_statements: list[ReferenceStatement] = Field(default_factory=list)
    reference_profile: Optional[ReferenceProfile] = None
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    recommendations: list[Recommendation] = Field(default_factory=list)
    conclusion: str
    # The hypotheses the authored conclusion rests on (its `rests_on`; the name is older than the
    # per-statement `rests_on` of implications and recommendations): when one of them is not
    # confirmed on a run, the page says so above the conclusion.
    conclusion_assumes: list[str] = Field(default_factory=list)
    # The hypotheses the summary rests on.
    summary_rests_on: list[str] = Field(default_factory=list)

    # derived: where it came from (set by the loader)
    path: Optional[str] = Field(default=None, exclude=True)

    @field_validator("date", mode="before")
    @classmethod
    def _calendar_date(cls, v):
        # a real calendar date written YYYY-MM-DD (the loader keeps it a string; pydantic checks the day)
        if isinstance(v, _dt.date):
            return v
        if not (isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip())):
            raise ValueError(f"expected a date written YYYY-MM-DD, got {v!r}")
        try:
            return _dt.date.fromisoformat(v.strip())
        except ValueError as exc:
            raise ValueError(f"{v!r} is not a calendar date ({exc})") from None

    @property
    def project_variants(self) -> list[str]:
        return [v for v in (self.baseline, self.candidate) if v]

    @property
    def variants(self) -> list[str]:
        """Every allocator the benches of this phase run, baseline first."""
        out = []
        for v in [self.baseline, self.candidate, *self.peers]:
            if v and v not in out:
                out.append(v)
        return out

    @property
    def headline_workload(self) -> str:
        return self.headline or (self.claim.workload if self.claim else self.workloads[0])

    @model_validator(mode="after")
    def _consistent(self):
        if self.claim and self.claim.workload not in self.workloads:
            raise ValueError(f"claim.workload {self.claim.workload!r} must be one of the phase's workloads "
                             f"({', '.join(self.workloads)})")
        if self.headline and self.headline not in self.workloads:
            raise ValueError(f"headline {self.headline!r} must be one of the phase's workloads")
        if self.evidence and self.evidence.coverage and not self.candidate:
            raise ValueError("evidence.coverage needs a candidate (the change to cover)")
        ids = [h.id for h in self.hypotheses]
        if len(set(ids)) != len(ids):
            raise ValueError(f"hypothesis ids must be unique, got {', '.join(ids)}")
        return self


# ---- numbers in authored prose ----------------------------------------------

# Measured-looking numbers: percentages, throughputs, times. Authored prose must
# get these from the measurements ({{ ... }} expressions), never type them.
_MEASURED_RE = re.compile(r"(?<![\w{])[+\-]?\d+(?:[.,]\d+)?\s*(?:%|M\s*ops|ops/s|ns\b|cycles?\b|x\b)", re.I)


def _strip_expressions(text: str) -> str:
    return re.sub(r"\{\{.*?\}\}", "", text, flags=re.S)


def _prose_fields(phase: Phase):
    """(field, text) of every authored prose field: the question, the statements, and what the
    reference's figures were measured as."""
    yield "question", phase.question
    yield from _statement_fields(phase, with_titles=False)
    for i, st in enumerate(phase.reference_statements):
        if st.measured_as:
            yield f"reference_statements[{i}].measured_as", st.measured_as


def _statement_fields(phase: Phase, with_titles: bool = True):
    """(field, text) of every authored statement the page makes as the phase's finding or advice
    (reportgen.statements checks each against the hypotheses it rests on; a recommendation's title
    is part of what it says)."""
    if phase.summary:
        yield "summary", phase.summary
    for i, h in enumerate(phase.hypotheses):
        if h.implication:
            yield f"hypotheses[{i}].implication", h.implication
    for i, r in enumerate(phase.recommendations):
        yield f"recommendations[{i}].text", (r.title + "\n" + r.text) if with_titles else r.text
    if phase.evidence and phase.evidence.background:
        yield "evidence.background", phase.evidence.background
    yield "conclusion", phase.conclusion


def _id_shapes(ids) -> set[str]:
    """The letter prefixes of hypothesis ids written letters-then-digits (H for H1, E for E2)."""
    return {m.group(1) for i in ids if (m := re.fullmatch(r"([A-Z]+)\d+", i))}


def named_ids(text: str, ids) -> list[str]:
    """The hypothesis ids a text names: this phase's ids as whole words, and any word of the same
    shape (a prefix of this phase's ids followed by digits), in the order they appear."""
    shapes = _id_shapes(ids)
    words = re.findall(r"(?<![\w.])([A-Za-z]\w*)", _strip_expressions(text))
    out = []
    for w in words:
        if (w in ids or (m := re.fullmatch(r"([A-Z]+)\d+", w)) and m.group(1) in shapes) and w not in out:
            out.append(w)
    return out


# ---- loading ------------------------------------------------------------------

def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("Compare", "All", "Any_", "Not") or "function-after" in str(part):
            continue  # pydantic's union-member tags: not a field the author wrote
        else:
            out += ("." if out else "") + ("not" if part == "not_" else str(part))
    return out or "(top level)"


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """The most useful error: for a union (a check) pydantic reports every member; prefer the deepest."""
    errors = exc.errors()
    best = max(errors, key=lambda e: len([p for p in e["loc"] if not isinstance(p, str) or p[0].islower()]))
    msg = best["msg"]
    if best["type"] == "missing":
        msg = "required field is missing"
    elif best["type"] == "extra_forbidden":
        msg = "unknown field (check its spelling)"
    elif best["type"] == "literal_error":
        msg = msg.replace("Input should be", "expected")
    msg = msg.removeprefix("Value error, ")
    return _loc(best["loc"]), msg


def _known_names(root: Path | None = None) -> tuple[set[str] | None, set[str] | None]:
    """Variant/peer names (the project's variants.yaml and the system peers) and workload names."""
    variants = _project_variant_names(root)
    if variants is not None:
        from .variants import PEERS
        variants = set(variants) | set(PEERS)
    try:
        from .measuring.workloads import WORKLOADS
        workloads = set(WORKLOADS)
    except Exception:  # pragma: no cover
        workloads = None
    return variants, workloads


# ---- the allocator's counters, as the C library defines them -----------------------------

@functools.lru_cache(maxsize=8)
def _counter_names(header: Path, stats_c: Path, _stamp: tuple) -> frozenset[str] | None:
    try:
        h = header.read_text(encoding="utf-8")
        c = stats_c.read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"#define\s+HAK_COUNTERS\(X\)((?:[^\n]*\\\n)*[^\n]*)", h)
    if not m:
        return None
    names = set(re.findall(r"\bX\((\w+)\)", m.group(1)))
    body = re.search(r"hak_stats_json\s*\([^)]*\)\s*\{(.*?)\n\}", c, re.S)
    if body:  # what hak_stats_json prints beside the X-macro's counters
        names |= set(re.findall(r'\\"(\w+)\\"', body.group(1)))
        names |= set(re.findall(r'_hak_json_array\(\s*&?\w+\s*,\s*"(\w+)"', body.group(1)))
    return frozenset(names) if names else None


def counter_names(native_dir: Path) -> frozenset[str] | None:
    """The keys of the library's `hak_stats_json` (a variant's `counters`), derived from the C
    sources -- the HAK_COUNTERS X-macro of native/hak_internal.h and the fields hak_stats_json
    adds in native/stats.c -- never retyped here. None when the sources cannot be read."""
    header, stats_c = native_dir / "hak_internal.h", native_dir / "stats.c"
    try:
        stamp = (header.stat().st_mtime_ns, stats_c.stat().st_mtime_ns)
    except OSError:
        return None
    return _counter_names(header, stats_c, stamp)


def _native_dir(root: Path | None) -> Path:
    if root is not None and (root / "native" / "hak_internal.h").exists():
        return root / "native"
    return Project.locate().native_dir


# ---- expressions in authored prose ----------------------------------------------------

AUTHORED_NAMES = ("m", "claim_range")


def _expression_paths(text: str):
    """The metric paths `m('...')` names in authored text; raises ValueError for what cannot be checked."""
    import jinja2
    from jinja2 import meta, nodes

    env = jinja2.Environment()
    try:
        ast = env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"bad expression in authored text: {exc.message}") from None
    for f in ast.find_all(nodes.Filter):   # the renderer's filters: their names only, for the analysis
        env.filters.setdefault(f.name, lambda x, *a, **k: x)
    for t in ast.find_all(nodes.Test):
        env.tests.setdefault(t.name, lambda x, *a, **k: True)
    unknown = sorted(meta.find_undeclared_variables(ast) - set(AUTHORED_NAMES))
    if unknown:
        raise ValueError(f"unknown name {unknown[0]!r} in an expression; authored text may use "
                         "m('metric.path') and claim_range")
    for call in ast.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "m":
            if len(call.args) != 1 or call.kwargs or not isinstance(call.args[0], nodes.Const) \
                    or not isinstance(call.args[0].value, str):
                raise ValueError("m() takes one metric path written out, e.g. m('bench.mid_mt_gap.hak-6b.median')")
            yield call.args[0].value


def _workload_sizes(name: str):
    try:
        from .measuring.workloads import WORKLOADS
        return WORKLOADS[name].all_sizes
    except Exception:  # pragma: no cover - the workloads module is another stage's
        return None


def _project_variant_names(root: Path | None = None):
    from .variants import project_variants
    return list(project_variants(Project(Path(root)) if root else None))


def _leaves(check, where: str):
    if isinstance(check, Compare):
        yield where, check
    elif isinstance(check, All):
        for i, c in enumerate(check.all):
            yield from _leaves(c, f"{where}.all[{i}]")
    elif isinstance(check, Any_):
        for i, c in enumerate(check.any):
            yield from _leaves(c, f"{where}.any[{i}]")
    elif isinstance(check, Not):
        yield from _leaves(check.not_, where + ".not")


def _check_paths(check, where: str):
    """(field, path) of every metric and ref a check reads."""
    for field, leaf in _leaves(check, where):
        yield field + ".metric", leaf.metric
        if leaf.ref:
            yield field + ".ref", leaf.ref


def check_leaves(phase: Phase):
    """(field, Compare) of every leaf of every hypothesis's check and guard."""
    for i, h in enumerate(phase.hypotheses):
        yield from _leaves(h.check, f"hypotheses[{i}].check")
        if h.inconclusive_when is not None:
            yield from _leaves(h.inconclusive_when, f"hypotheses[{i}].inconclusive_when")


def _interval_rules(phase: Phase, fail) -> None:
    """A check is never decided by noise: noisy values without an interval are refused, and a
    measured value with an interval is compared by order or `within`, never for equality."""
    from .metrics import NOISY_LEAVES, interval_key
    for field, leaf in check_leaves(phase):
        for path in filter(None, (leaf.metric, leaf.ref)):
            last = path.rsplit(".", 1)[-1]
            if last in NOISY_LEAVES:
                fail(field, f"{path!r} is decided by noise: {NOISY_LEAVES[last]}")
            if interval_key(path) and leaf.op in ("==", "!=", "in", "not in", "contains", "excludes"):
                fail(field, f"{path!r} is a measured value judged on its 95% CI: compare it with <, <=, >, >= "
                            f"or `within: [lo, hi]`, not {leaf.op!r}")


def contrasts_of(phase: Phase, workload: str) -> list[tuple[str, str]]:
    """The pairs (a, b) whose contrast, a against b, a check or statement of the phase reads on `workload`
    (bench.<workload>.contrasts.<a>.<b>.*): computed from the group's rounds, never measured apart."""
    out: list[tuple[str, str]] = []
    paths = [leaf for _f, leaf in check_leaves(phase)]
    for path in [*(l.metric for l in paths), *(l.ref for l in paths if l.ref),
                 *(s.metric for s in phase.reference_statements)]:
        parts = path.split(".")
        if parts[0] == "bench" and len(parts) > 4 and parts[1] == workload and parts[2] == "contrasts":
            if (parts[3], parts[4]) not in out:
                out.append((parts[3], parts[4]))
    return out


def comparison_targets(phase: Phase, workload: str, precision: float) -> tuple[list[str], dict[str, float]]:
    """(primary allocators, tighter targets) of the phase's comparisons on `workload`.

    Primary: the candidate, and every allocator a hypothesis, the claim or a reference
    statement reads a comparison of.  A bound a check puts on a comparison's speed-up
    (a margin m) asks for a CI of half-width m/2 at most, so the interval can land inside it."""
    primary = [phase.candidate] if phase.candidate else []
    tighter: dict[str, float] = {}
    paths = [leaf for _f, leaf in check_leaves(phase)]
    refs = [s.metric for s in phase.reference_statements]
    for path in [*(l.metric for l in paths), *(l.ref for l in paths if l.ref), *refs]:
        parts = path.split(".")
        if parts[0] == "bench" and len(parts) > 3 and parts[1] == workload and parts[2] == "comparisons":
            if parts[3] not in primary:
                primary.append(parts[3])
        # both sides of a contrast keep sampling as judged comparisons do, or its interval starves
        if parts[0] == "bench" and len(parts) > 4 and parts[1] == workload and parts[2] == "contrasts":
            primary += [p for p in parts[3:5] if p not in primary]
    for leaf in paths:
        parts = leaf.metric.split(".")
        if not (parts[0] == "bench" and len(parts) > 4 and parts[1] == workload and parts[2] == "comparisons"
                and parts[4] in ("speedup", "speedup_ci95")) or leaf.ref:
            continue
        bounds = leaf.value if isinstance(leaf.value, list) else [leaf.value]
        for b in bounds:
            if isinstance(b, (int, float)) and not isinstance(b, bool) and b == b and 0 < abs(b) < float("inf"):
                tighter[parts[3]] = min(tighter.get(parts[3], precision), abs(b) / 2)
    return [p for p in primary if p != phase.baseline], tighter


def _sweep_checks(phase: Phase, fail) -> None:
    seen = set()
    for i, sw in enumerate(phase.sweeps):
        where = f"sweeps[{i}]"
        if sw.workload not in phase.workloads:
            fail(f"{where}.workload", f"{sw.workload!r} is not one of the phase's workloads ({', '.join(phase.workloads)})")
            continue
        if not phase.candidate:
            fail(where, "a sweep compares the candidate with the baseline: the phase needs a candidate")
        if (sw.workload, sw.param) in seen:
            fail(where, f"{sw.workload} is swept over {sw.param} twice")
        seen.add((sw.workload, sw.param))
        try:
            from .measuring.kinds.sweep import check_sweep
            from .measuring.workloads import WORKLOADS
            w = WORKLOADS.get(sw.workload)
            if w is not None:
                check_sweep(w, sw.param, sw.values)
        except UserError as exc:
            fail(where, str(exc))


def sweep_of(phase: Phase, workload: str, param: str):
    """The phase's sweep of `param` on `workload`, or None."""
    return next((s for s in phase.sweeps if s.workload == workload and s.param == param), None)


def _sweep_path_checks(phase: Phase, field: str, parts: list[str], fail, counters) -> None:
    """sweep.<workload>.<param>.<value>.{<allocator>.<...>, comparisons.<allocator>.<...>}"""
    path = ".".join(parts)
    if len(parts) < 5:
        fail(field, f"{path!r}: a sweep path is sweep.<workload>.<param>.<value>.<allocator or comparisons>...")
        return
    sw = sweep_of(phase, parts[1], parts[2])
    if sw is None:
        fail(field, f"{path!r}: the phase does not sweep {parts[2]!r} on {parts[1]!r} (its `sweeps:`)")
        return
    if not parts[3].isdigit() or int(parts[3]) not in sw.values:
        fail(field, f"{path!r}: {parts[3]!r} is not one of the sweep's values ({', '.join(map(str, sw.values))})")
    names = phase.project_variants
    who = parts[5] if parts[4] == "comparisons" and len(parts) > 5 else parts[4]
    if who not in names:
        fail(field, f"{path!r} names allocator {who!r}; a sweep runs {', '.join(names)}")
    if parts[4] != "comparisons" and len(parts) > 5 and parts[5] == "counters":
        if len(parts) < 7:
            fail(field, f"{path!r} names no counter (counters.<name>)")
        elif counters is not None and parts[6] not in counters:
            fail(field, f"{path!r} names counter {parts[6]!r}, which the allocator does not count; "
                        f"its counters are {', '.join(sorted(counters))}")


def _semantic_checks(phase: Phase, fail, root: Path | None = None) -> None:
    variants, workloads = _known_names(root)
    if variants is not None:
        for field, name in [("baseline", phase.baseline), ("candidate", phase.candidate),
                            *[(f"peers[{i}]", p) for i, p in enumerate(phase.peers)],
                            *[(f"excerpts[{i}].variant", e.variant) for i, e in enumerate(phase.excerpts)]]:
            if name and name not in variants:
                fail(field, f"unknown allocator {name!r}; expected one of {', '.join(sorted(variants))}")
    if workloads is not None:
        from .measuring.workloads import WORKLOADS
        for i, w in enumerate(phase.workloads):
            if w not in workloads:
                fail(f"workloads[{i}]", f"unknown workload {w!r}; expected one of {', '.join(sorted(workloads))}")
            elif WORKLOADS[w].is_program:
                fail(f"workloads[{i}]", f"{w!r} is a program; list it under `programs:`")
        for i, w in enumerate(phase.programs):
            if w not in workloads:
                fail(f"programs[{i}]", f"unknown workload {w!r}; the programs are "
                                       f"{', '.join(sorted(n for n in workloads if WORKLOADS[n].is_program))}")
            elif not WORKLOADS[w].is_program:
                fail(f"programs[{i}]", f"{w!r} is a driver loop, not a program; list it under `workloads:`")
            elif phase.programs.index(w) != i:
                fail(f"programs[{i}]", f"{w!r} is listed twice")
    for i, wl in enumerate(phase.evidence.profile if phase.evidence else []):
        if wl not in phase.workloads:
            fail(f"evidence.profile[{i}]", f"{wl!r} is not one of the phase's workloads ({', '.join(phase.workloads)})")
    for i, wl in enumerate(phase.evidence.counts if phase.evidence else []):
        if wl not in phase.workloads:
            fail(f"evidence.counts[{i}]", f"{wl!r} is not one of the phase's workloads ({', '.join(phase.workloads)})")
    _sweep_checks(phase, fail)
    ids = [h.id for h in phase.hypotheses]
    for i, ref in enumerate(phase.evidence.reference_hypotheses if phase.evidence else []):
        for j, hid in enumerate(ref.ours):
            if hid not in ids:
                fail(f"evidence.reference_hypotheses[{i}].ours[{j}]", f"{hid!r} is not a hypothesis of this phase")
    known = f"({', '.join(ids) or 'it has none'})"
    for field, named in [("conclusion_assumes", phase.conclusion_assumes),
                         ("summary_rests_on", phase.summary_rests_on),
                         *[(f"hypotheses[{i}].rests_on", h.rests_on) for i, h in enumerate(phase.hypotheses)],
                         *[(f"recommendations[{i}].rests_on", r.rests_on)
                           for i, r in enumerate(phase.recommendations)]]:
        for i, hid in enumerate(named):
            if hid not in ids:
                fail(f"{field}[{i}]", f"{hid!r} is not a hypothesis of this phase {known}")
    # A statement that names a hypothesis by its id in its text rests on it: an id of the same
    # shape as this phase's ids (H9 beside H1..H8) that is not one of them is a typo or a stale reference.
    for field, text in _statement_fields(phase):
        for hid in named_ids(text, ids):
            if hid not in ids:
                fail(field, f"names hypothesis {hid!r}, which this phase does not have {known}")
    # metric paths name this phase's own workloads and allocators
    paths = []
    for i, h in enumerate(phase.hypotheses):
        paths += list(_check_paths(h.check, f"hypotheses[{i}].check"))
        paths += [(f"hypotheses[{i}].beside[{j}]", b.metric) for j, b in enumerate(h.beside)]
        if h.inconclusive_when is not None:
            paths += list(_check_paths(h.inconclusive_when, f"hypotheses[{i}].inconclusive_when"))
    _interval_rules(phase, fail)
    paths += [(f"reference_statements[{i}].metric", s.metric) for i, s in enumerate(phase.reference_statements)]
    for field, text in _prose_fields(phase):
        try:
            for path in _expression_paths(text):
                try:
                    _metric_path(path)
                except ValueError as exc:
                    fail(field, f"in m({path!r}): {exc}")
                paths.append((field, path))
        except ValueError as exc:
            fail(field, str(exc))
    counters = counter_names(_native_dir(root))
    project_variants = set(_project_variant_names(root) or [])
    for field, path in paths:
        parts = path.split(".")
        if parts[0] in ("bench", "route"):
            if parts[1] not in phase.workloads:
                fail(field, f"{path!r} names workload {parts[1]!r}, which is not among the phase's "
                            f"workloads ({', '.join(phase.workloads)})")
            if len(parts) > 2:
                names = phase.variants if parts[0] == "bench" else phase.project_variants
                subject = parts[3] if parts[0] == "bench" and parts[2] == "comparisons" and len(parts) > 3 else parts[2]
                if parts[0] == "bench" and parts[2] == "contrasts":
                    pair = parts[3:5]
                    if len(pair) < 2:
                        fail(field, f"{path!r}: a contrast names two allocators (contrasts.<a>.<b>: a against b)")
                    for who in pair:
                        if who not in names:
                            fail(field, f"{path!r} names allocator {who!r}, which this phase does not run "
                                        f"({', '.join(names)})")
                elif parts[2] != "comparisons" and subject not in names:
                    fail(field, f"{path!r} names allocator {subject!r}, which this phase does not "
                                f"{'run' if parts[0] == 'bench' else 'route'} ({', '.join(names)})")
        if parts[0] in ("bench", "route") and len(parts) > 3 and parts[2] != "comparisons" and parts[3] == "counters":
            who = parts[2]
            if project_variants and who not in project_variants:
                fail(field, f"{path!r}: {who} is a system allocator; only the project's variants have counters")
            if len(parts) < 5:
                fail(field, f"{path!r} names no counter (counters.<name>)")
            if counters is not None and parts[4] not in counters:
                fail(field, f"{path!r} names counter {parts[4]!r}, which the allocator does not count; "
                            f"its counters are {', '.join(sorted(counters))}")
        if parts[0] == "route" and len(parts) > 4 and parts[3] == "sizes" and parts[1] in phase.workloads:
            sizes = _workload_sizes(parts[1])
            if sizes is not None and parts[4] not in {str(x) for x in sizes}:
                fail(field, f"{path!r} names size {parts[4]!r}, which {parts[1]} does not request "
                            f"(its sizes: {', '.join(str(x) for x in sizes)})")
        if parts[0] == "route" and len(parts) > 4 and parts[3] == "pools":
            from .measuring.native import POOL_IDS
            if parts[4] not in POOL_IDS:
                fail(field, f"{path!r} names pool {parts[4]!r}; the pools are {', '.join(POOL_IDS)}")
        if parts[0] == "sweep":
            _sweep_path_checks(phase, field, parts, fail, counters)
        if parts[0] == "programs":
            programs = phase.programs
            if len(parts) < 2 or parts[1] not in programs:
                fail(field, f"{path!r} names program {parts[1] if len(parts) > 1 else ''!r}, which is not among "
                            f"the phase's programs ({', '.join(programs) or 'none'})")
            elif len(parts) > 2:
                subject = parts[3] if parts[2] == "comparisons" and len(parts) > 3 else parts[2]
                if parts[2] != "comparisons" and subject not in phase.variants:
                    fail(field, f"{path!r} names allocator {subject!r}, which this phase does not run "
                                f"({', '.join(phase.variants)})")
        if parts[0] == "header_cost" and not phase.header_cost:
            fail(field, f"{path!r} needs `header_cost: true` in the phase")
        if parts[0] == "counts" and (len(parts) < 2 or parts[1] not in (phase.evidence.counts if phase.evidence else [])):
            fail(field, f"{path!r} needs its workload in the phase's `evidence: {{counts: [...]}}`")
        if parts[0] == "coverage" and not (phase.evidence and phase.evidence.coverage):
            fail(field, f"{path!r} needs `evidence: {{coverage: true}}` in the phase")
        if parts[0] == "coverage" and len(parts) > 1 and parts[1] not in phase.workloads:
            fail(field, f"{path!r} names workload {parts[1]!r}, which is not among the phase's workloads")
        if parts[0] in ("claim", "impact") and phase.claim is None:
            fail(field, f"{path!r} needs a `claim` in the phase")
    for field, text in _prose_fields(phase):
        m = _MEASURED_RE.search(_strip_expressions(text))
        if m:
            fail(field, f"authored text types a measured-looking number {m.group(0).strip()!r}; "
                        "use an expression such as {{ m('bench.<workload>.comparisons.<variant>.speedup') | pct }}")




def load_phase(path: Path, root: Path | None = None) -> Phase:
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    data = read_yaml(path, shown, "the phase spec")
    if not isinstance(data, dict):
        raise UserError(f"{shown}: expected a mapping of fields (id, title, ...) at the top level, "
                        f"got {type(data).__name__}")
    try:
        phase = Phase.model_validate(data)
    except ValidationError as exc:
        field, msg = _first_error(exc)
        raise UserError(f"{shown}: field {field}: {msg}") from None

    def fail(field, msg):
        raise UserError(f"{shown}: field {field}: {msg}")

    if phase.id != path.stem:
        fail("id", f"expected {path.stem!r} (the file name without .yaml), got {phase.id!r}")
    _semantic_checks(phase, fail, root)
    phase.path = shown
    return phase


def load_phases(project: Project, only: list[str] | None = None) -> list[Phase]:
    """Every phase spec, oldest first (by date, then id)."""
    files = sorted(project.phases_dir.glob("*.yaml"))
    if not files:
        raise UserError(f"no phase specs found in {project.phases_dir} (expected phases/<id>.yaml)")
    phases = [load_phase(f, project.root) for f in files]
    if only:
        known = {p.id for p in phases}
        for name in only:
            if name not in known:
                raise UserError(f"unknown phase {name!r}; phases are: {', '.join(sorted(known))}")
        phases = [p for p in phases if p.id in only]
    return chronological(phases)


def chronological(phases) -> list[Phase]:
    """Phases oldest first (by date, then id): the one order of phases everywhere."""
    return sorted(phases, key=lambda p: (p.date, p.id))
