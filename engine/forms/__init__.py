"""Camunda Forms (``.form`` files saved by Camunda Modeler) compiled for server-side validation.

A user task names its form with ``camunda:formRef``; the inbox renders it and, on completion,
the submitted values go through :meth:`Form.validate` before they become process variables.
Validation must therefore be strict, fast (the form is compiled once, regexes are cached) and
must report every error at once, in French, keyed by the field's data path.

Behaviour follows form-js (the library Camunda Modeler previews forms with) where it matters:

* a field's data path is its group/dynamic-list ``path`` segments plus its ``key``, which may
  itself be dotted (``demandeur.nom``); cleaned data is nested accordingly;
* fields hidden by ``conditional.hide`` are neither validated nor returned;
* empty values are ``""`` for text, ``None`` for number/select/radio/datetime, ``False`` for a
  checkbox and ``[]`` for checklist/taglist.

Deliberate differences, chosen for an administrative back office:

* ``validate.pattern`` must match the *whole* value (``re.fullmatch``; form-js searches);
* ``validationType: "phone"`` accepts French numbers (``01 23 45 67 89``) as well as
  international ones (``+33 1 23 45 67 89``);
* readonly/disabled fields never take their value from the submission, and are not returned:
  they show process data, they do not change it;
* keys in the submission that are not editable fields of the form are ignored (not returned),
  so a crafted post cannot overwrite arbitrary process variables;
* the FEEL used in ``conditional.hide``, ``valuesExpression`` and expression bounds is a small,
  safe subset (see ``arsflow.engine.forms.feel``); anything outside it is refused when the form is loaded rather
  than silently misread at completion time.
* a ``filepicker`` takes its files from the upload (``files=`` of :meth:`Form.validate`), never
  from the submitted data: the runtime stores them as documents and the variable becomes the list
  of their references (form-js hands a file key to Camunda 8, which stores documents likewise).
"""
from __future__ import annotations

from arsflow.engine.forms.errors import FormError, FormValidationError
from arsflow.engine.forms.form import Form
from arsflow.engine.forms.loader import form_id_of, load_form, load_form_dir, load_form_file
from arsflow.engine.forms.model import Component, Field

__all__ = [
    "Component",
    "Field",
    "Form",
    "FormError",
    "FormValidationError",
    "form_id_of",
    "load_form",
    "load_form_dir",
    "load_form_file",
]
