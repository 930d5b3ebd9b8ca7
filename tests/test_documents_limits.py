"""Letter templates are bounded like scripts: a tag building a huge value is refused before the
work, one running for ever is interrupted; either way the `document` element is the incident."""
from __future__ import annotations

import pytest

from arsflow.engine.bpmn.script_limits import Limits
from arsflow.engine.config import Settings
from arsflow.engine.documents import templates
from arsflow.engine.runtime import Runtime
from tests.docx_support import docx_text, make_docx
from tests.odt_support import make_odt
from tests.test_documents import _letter_process

HUGE = {"saisine.docx": make_docx(["Bonjour {{ 'x' * 10**10 }}"]),
        "saisine.odt": make_odt(["Bonjour [['x' * 10**10]]"])}
ENDLESS = {"saisine.docx": make_docx(["{% for i in range(100000) %}{% for j in range(100000) %}"
                                      "{% for k in range(100000) %}{% endfor %}{% endfor %}{% endfor %}"]),
           "saisine.odt": make_odt(["[[sum(1 for i in range(10**7) for j in range(10**7))]]"])}


@pytest.fixture(params=["warm", "cold"])
def runtimes(request, database, clock):
    """warm: one runtime for every operation; cold: a new runtime (empty caches) each time."""
    def make():
        return Runtime(database, Settings(database_url=database.url, territory="75", timezone="Europe/Paris",
                                          script_timeout=0.5), clock=clock)
    warm = make()
    return lambda: warm if request.param == "warm" else make()


def _deploy(rt, files):
    with rt.db.transaction() as s:
        return rt.definitions.deploy(s, [(name, content.encode() if isinstance(content, str) else content)
                                         for name, content in files.items()], now=rt.now())


@pytest.mark.parametrize("name", ["saisine.docx", "saisine.odt"])
@pytest.mark.parametrize("case, why", [(HUGE, "valeur trop grande"), (ENDLESS, "durée maximale dépassée")])
def test_a_runaway_template_is_an_incident_on_its_element(runtimes, name, case, why):
    _deploy(runtimes(), {"letters.bpmn": _letter_process(name), name: case[name]})
    started = runtimes().start("letters", {"body": "CRSA"}, business_key="PRS-1")
    assert started["state"] == "incident"
    assert started["incident"]["element_id"] == "Letter"
    message = started["incident"]["message"]
    assert f"modèle « {name} » : remplissage interrompu" in message and why in message
    shown = runtimes().show(started["instance_id"])  # the process still answers; nothing was stored
    assert shown["state"] == "incident" and shown["documents"] == [] and shown["tasks"] == []


def test_the_retry_fills_the_letter_once_the_template_is_fixed(runtimes):
    rt = runtimes()
    _deploy(rt, {"letters.bpmn": _letter_process(), "saisine.docx": HUGE["saisine.docx"]})
    started = rt.start("letters", {"body": "CRSA"})
    assert started["state"] == "incident"
    _deploy(runtimes(), {"saisine.docx": make_docx(["Saisine n° {{ instance_id }} de {{ body }}"])})
    # the instance keeps the template of its diagram version: on the newest one, the fixed letter
    retried = runtimes().retry(started["instance_id"], latest_definition=True)
    assert retried["state"] == "incident"  # the newest diagram is the same: still the old template
    _deploy(runtimes(), {"letters.bpmn": _letter_process().replace("Établir le courrier", "Établir la lettre")})
    retried = runtimes().retry(started["instance_id"], latest_definition=True)
    assert retried["state"] == "waiting"
    [document] = runtimes().show(started["instance_id"])["documents"]
    with rt.db.read() as s:
        paragraphs, _ = docx_text(rt.documents.content(rt.documents.get(s, document["id"])))
    assert paragraphs == [f"Saisine n° {started['instance_id']} de CRSA"]


def test_a_letter_filled_at_start_knows_its_instance(runtimes):
    """At start the instance has no id while the element runs: the letter is filled again when stored."""
    rt = runtimes()
    _deploy(rt, {"letters.bpmn": _letter_process(), "saisine.docx": make_docx(["Dossier n° {{ instance_id }}"])})
    started = rt.start("letters", {"body": "CRSA"})
    [document] = runtimes().show(started["instance_id"])["documents"]
    with rt.db.read() as s:
        paragraphs, _ = docx_text(rt.documents.content(rt.documents.get(s, document["id"])))
    assert paragraphs == [f"Dossier n° {started['instance_id']}"]


@pytest.mark.parametrize("tag", ["{{ 7 ** (10**8) }}", "{{ 'a'.ljust(10**10) }}", "{{ 'a'|center(10**10) }}",
                                 "{{ 'ab'|replace('a', 'a' * 10**6)|replace('a', 'aaaaaaaaaaaa') }}",
                                 "{{ (['abc'] * 10**6)|join('x' * 1000) }}", "{{ 'a'|indent(10**10) }}",
                                 "{{ [0] * 10**9 }}"])
def test_docx_operators_and_filters_are_size_checked(tag):
    with pytest.raises(templates.TemplateLimitExceeded, match="valeur trop grande"):
        templates.render(make_docx([tag]), {}, "t.docx", Limits(30, 1024))


@pytest.mark.parametrize("tag", ["7 ** (10**8)", "'a'.ljust(10**10)", "len(list(range(10**9)))", "[0] * 10**9",
                                 "1 << 10**9", "pow(7, 10**8)", "'ab'.replace('a', 'a' * 10**6) * 100"])
def test_odt_operators_and_builtins_are_size_checked(tag):
    with pytest.raises(templates.TemplateLimitExceeded, match="valeur trop grande"):
        templates.render(make_odt([f"[[{tag}]]"]), {}, "t.odt", Limits(30, 1024))


def test_ordinary_tags_unchanged():
    filled, _ = templates.render(make_docx(["{{ body * 2 }} {{ n ** 2 + 1 }} {{ 'x'.ljust(3, '.') }} "
                                            "{{ [1] + [2] }} {{ 'a'|center(5) }}|"]), {"body": "ab", "n": 3}, "t.docx")
    assert docx_text(filled)[0] == ["abab 10 x.. [1, 2]   a  |"]
