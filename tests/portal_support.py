"""A consultation diagram that writes to each body through the portal: a letter per body, an
invitation to file the avis on the task `Record` before `deadline`."""
from __future__ import annotations

from tests.bpmn_builder import definitions, flow, user_task
from tests.docx_support import make_docx

FORM = """{"id": "record_avis", "type": "default", "components": [
 {"type": "datetime", "key": "received_on", "subtype": "date", "label": "Reçu le", "validate": {"required": true}},
 {"type": "radio", "key": "sens", "label": "Sens", "validate": {"required": true}, "values": [
   {"label": "Favorable", "value": "favorable"}, {"label": "Favorable avec réserves", "value": "reserve"},
   {"label": "Défavorable", "value": "defavorable"}]},
 {"type": "textfield", "key": "reference", "label": "Référence", "validate": {"required": true}},
 {"type": "textarea", "key": "comment", "label": "Commentaire"}]}"""


def consultation() -> str:
    letter = ('<bpmn:serviceTask id="Letter" name="Courrier de saisine" camunda:type="external" camunda:topic="document">'
              '<bpmn:extensionElements><camunda:inputOutput>'
              '<camunda:inputParameter name="template">saisine.docx</camunda:inputParameter>'
              '<camunda:inputParameter name="name">Courrier de saisine — ${body}</camunda:inputParameter>'
              '<camunda:inputParameter name="correspondent">${body}</camunda:inputParameter>'
              '<camunda:inputParameter name="portal_task">Record</camunda:inputParameter>'
              '<camunda:inputParameter name="portal_email">${emails[body]}</camunda:inputParameter>'
              '<camunda:inputParameter name="portal_expires">${deadline}</camunda:inputParameter>'
              '<camunda:inputParameter name="portal_receipt_template">accuse.docx</camunda:inputParameter>'
              '</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>')
    record = user_task("Record", "Enregistrer l'avis reçu",
                       'camunda:candidateGroups="staff" camunda:formRef="record_avis" camunda:dueDate="${deadline}"',
                       '<camunda:properties><camunda:property name="subject" value="${body}"/></camunda:properties>')
    sub = ('<bpmn:subProcess id="Each"><bpmn:multiInstanceLoopCharacteristics camunda:collection="bodies" '
           'camunda:elementVariable="body"/><bpmn:startEvent id="s2"/>' + letter + record +
           '<bpmn:endEvent id="e2"/>' + flow("s2", "Letter") + flow("Letter", "Record") + flow("Record", "e2") +
           '</bpmn:subProcess>')
    return definitions("\n".join(['<bpmn:startEvent id="start"/>', sub, '<bpmn:endEvent id="end"/>',
                                  flow("start", "Each"), flow("Each", "end")]), "consultation",
                       name="Consultation test")


def files() -> dict:
    return {"consultation.bpmn": consultation(), "record_avis.form": FORM,
            "saisine.docx": make_docx(["Saisine de {{ body }} ({{ business_key }})"]),
            "accuse.docx": make_docx(["Accusé de réception : {{ body }}, reçu le {{ received_at }}, avis {{ sens }}."])}


START = {"bodies": ["CRSA", "Conseil départemental"], "deadline": "2026-12-31T23:00:00+00:00",
         "emails": {"CRSA": "crsa@example.org", "Conseil départemental": "cd@example.org"}}
