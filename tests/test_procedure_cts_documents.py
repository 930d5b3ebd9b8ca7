"""CTS nomination with its letter: once the composition is checked, the projet d'arrêté is
filled from processes/cts_arrete_composition.docx, collège by collège, member by member."""
from __future__ import annotations

import pytest
from arsflow.engine.bpmn.definitions import collect_sources

from tests.docx_support import docx_text
from tests.test_procedure_cts import CTS, PARITY, SOURCES, Roster, answer_everything, one, start, variables


@pytest.fixture
def cts(runtime, make_user):
    make_user("pole", "pole_democratie_sanitaire")
    make_user("dg", "dg_ars")
    make_user("sg", "sg_national")
    with runtime.db.transaction() as s:
        runtime.definitions.deploy(s, collect_sources(SOURCES),
                                   now=runtime.now())
    return runtime


def test_the_draft_arrete_lists_every_member_from_the_variables(cts, clock):
    iid = start(cts, clock)
    answer_everything(cts, clock, iid, Roster())
    assert one(cts, iid, PARITY)
    [document] = [d for d in cts.show(iid)["documents"] if d["name"].startswith("Projet d'arrêté")]
    assert document["name"] == f"Projet d'arrêté — {CTS}.docx" and document["task_id"] is None
    with cts.db.read() as s:
        paragraphs = docx_text(cts.documents.content(cts.documents.get(s, document["id"])))[0]
    expected = []
    for college in variables(cts, iid)["arrete_members"]:
        expected.append(college["title"])
        expected += [f"Au titre de {m['body']} — titulaire : {m['titulaire']} ; suppléant : {m['suppleant']}"
                     for m in college["members"]]
    start_at = paragraphs.index(f"Article 1er — La composition du {CTS} est fixée comme suit :") + 1
    assert paragraphs[start_at:start_at + len(expected)] == expected
    assert paragraphs[start_at + len(expected)] == "Article 2 — Le présent arrêté sera publié au recueil des actes administratifs."
    assert f"Arrêté portant composition du {CTS}" in paragraphs
