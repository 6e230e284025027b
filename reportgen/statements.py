"""Authored statements against the hypotheses they rest on.

A phase spec makes statements of its own beside the checked hypotheses: the summary, each
hypothesis's implication, each recommendation, the design background and the conclusion.  Each
rests on some hypotheses, and a statement is only as good as they are on this run.  What a
statement rests on is collected three ways, so that the author's list is not the only guard:

- listed by hand: `rests_on` (implications, recommendations), `conclusion_assumes`,
  `summary_rests_on`; an implication always rests on its own hypothesis as well;
- named in its text: a hypothesis id written in the statement ("H1 and H2 here");
- mentioned: a phrase a hypothesis declares as naming its mechanism (`mentioned_as`), found in
  the statement's text, e.g. "the header read adds" for a hypothesis that the header costs time.

A statement any of whose hypotheses is rejected or inconclusive on this run is *undercut*: the
page flags it where it stands (templates/phase.md.j2), naming each hypothesis and its status.
An id that is no hypothesis of the phase is refused when the spec is loaded (phases.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .phases import Phase, _statement_fields, _strip_expressions, named_ids


@dataclass
class Basis:
    """One hypothesis a statement rests on, how the tool found it, and its status on this run."""
    id: str
    title: str
    status: str
    how: str        # "listed", "its own", "named", "mentioned"


@dataclass
class StatementCheck:
    field: str                      # the spec field ("conclusion", "recommendations[1].text")
    basis: list[Basis] = field(default_factory=list)

    @property
    def undercut(self) -> list[Basis]:
        """The hypotheses it rests on that this run did not confirm."""
        return [b for b in self.basis if b.status != "confirmed"]

    @property
    def holds(self) -> bool:
        return not self.undercut

    def to_dict(self) -> dict:
        return {"field": self.field, "basis": [b.__dict__ for b in self.basis],
                "undercut": [b.id for b in self.undercut]}


def _listed(spec: Phase, fld: str) -> tuple[list[str], str | None]:
    """The ids a statement lists by hand, and the hypothesis whose own implication it is."""
    if fld == "conclusion":
        return list(spec.conclusion_assumes), None
    if fld == "summary":
        return list(spec.summary_rests_on), None
    m = re.fullmatch(r"hypotheses\[(\d+)\]\.implication", fld)
    if m:
        h = spec.hypotheses[int(m.group(1))]
        return list(h.rests_on), h.id
    m = re.fullmatch(r"recommendations\[(\d+)\]\.text", fld)
    if m:
        return list(spec.recommendations[int(m.group(1))].rests_on), None
    return [], None


def _mentioned(spec: Phase, text: str) -> list[str]:
    plain = " ".join(_strip_expressions(text).lower().split())
    return [h.id for h in spec.hypotheses
            if any(" ".join(p.lower().split()) in plain for p in h.mentioned_as if p.strip())]


def check_statements(spec: Phase, outcomes) -> dict[str, StatementCheck]:
    """Every authored statement of `spec` (by spec field) with the hypotheses it rests on."""
    by_id = {o.id: o for o in outcomes}
    ids = [h.id for h in spec.hypotheses]
    out: dict[str, StatementCheck] = {}
    for fld, text in _statement_fields(spec):
        listed, own = _listed(spec, fld)
        found: list[tuple[str, str]] = []
        if own:
            found.append((own, "its own"))
        found += [(h, "listed") for h in listed]
        found += [(h, "named") for h in named_ids(text, ids)]
        found += [(h, "mentioned") for h in _mentioned(spec, text)]
        chk = StatementCheck(fld)
        seen: set[str] = set()
        for hid, how in found:
            if hid in seen or hid not in by_id:
                continue
            seen.add(hid)
            o = by_id[hid]
            chk.basis.append(Basis(hid, o.title, o.status, how))
        out[fld] = chk
    return out
