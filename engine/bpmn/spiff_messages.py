"""SpiffWorkflow's errors, told in French to the people who read incidents and lint reports.

SpiffWorkflow writes its messages in English ("Error evaluating expression 'x'", "Did you
mean…", "No conditions satisfied…"). An incident names the element (by its id in the
diagram) and says what failed in French; the original exception type stays visible
(`ZeroDivisionError`) because it is what a developer searches for.
"""
from __future__ import annotations

import difflib
import re

_PATTERNS = [
    (re.compile(r"^Error evaluating expression '(?P<expr>.*)'$", re.S), "erreur en évaluant l'expression « {expr} »"),
    (re.compile(r"^Python script error on line (?P<line>\d+): '(?P<text>.*)'$", re.S),
     "erreur du script, ligne {line} : « {text} »"),
    (re.compile(r"^No conditions satisfied (on gateway|for (?P<name>.*))$"),
     "aucune condition de sortie n'est vraie et il n'y a pas de flux par défaut"),
    (re.compile(r"^Did you mean one of '(?P<names>.*)'\?$"), "vouliez-vous dire l'une de {names} ?"),
    (re.compile(r"^Did you mean '(?P<name>.*)'\?$"), "vouliez-vous dire « {name} » ?"),
    (re.compile(r"^Missing data input$"), "donnée d'entrée manquante"),
    (re.compile(r"^Missing data ouput$"), "donnée de sortie manquante"),
    (re.compile(r"^Expected an output item$"), "élément de sortie de la multi-instance manquant"),
    (re.compile(r"^This process is not waiting for (?P<name>.*)$"), "le processus n'attend pas « {name} »"),
    (re.compile(r"^name '(?P<name>[^']*)' is not defined$"), "variable « {name} » inconnue"),
    (re.compile(r"^Multiple outgoing flows are not supported for tasks of type$"),
     "plusieurs flux sortants depuis une tâche : utilisez une passerelle"),
    (re.compile(r"^(?P<error>[A-Za-z]+Error):\s*name '(?P<name>[^']*)' is not defined$"),
     "{error} : variable « {name} » inconnue"),
    # the parser's (ValidationException)
    (re.compile(r"^(Correlation|Error|Escalation|Signal) identifier is missing from bpmn xml$"),
     "élément sans identifiant (id) : le fichier ne peut pas être chargé"),
    (re.compile(r"^No start event found$"), "aucun événement de début"),
    (re.compile(r"^There is no support implemented for this task type\.?$"), "type de tâche non pris en charge"),
    (re.compile(r"^Time Specification Error\. (?P<detail>.*)$", re.S), "minuterie illisible : {detail}"),
    (re.compile(r"^Unknown Time Specification$"), "minuterie sans timeDate, timeDuration ni timeCycle"),
    (re.compile(r"^A SubWorkflow Must contain an End event$"), "sous-processus sans événement de fin"),
    (re.compile(r"^A loopMaximum or loopCondition must be specified for Loop Tasks$"),
     "boucle standard sans loopMaximum ni loopCondition"),
    (re.compile(r"^A multiinstance task must specify .*$"),
     "multi-instance sans camunda:collection ni loopCardinality"),
    (re.compile(r"^Cancel Events may only be used with transactions$"),
     "événement d'annulation hors d'un sous-processus transactionnel"),
    (re.compile(r"^Conditional event definition with missing condition$"), "événement conditionnel sans condition"),
    (re.compile(r"^Expected (a|an) (?P<kind>Message|Signal|Escalation|error) node$"),
     "référence vers un élément {kind} introuvable dans le fichier"),
    (re.compile(r"^Multiple decision tables are not current supported\.?$"),
     "plusieurs tables de décision dans une décision : non pris en charge"),
    (re.compile(r"^No decisions found$"), "aucune décision dans le fichier DMN"),
    (re.compile(r"^The loop (input|output) data reference is missing from the IO specification$"),
     "référence de données de la boucle absente de ioSpecification"),
    (re.compile(r"^When looking for a task spec, we found two items.*$", re.S),
     "deux éléments portent le même identifiant (un formulaire a-t-il le même id ?)"),
    (re.compile(r"^Process (?P<id>.*) is not executable\.?$"), "le processus « {id} » n'est pas exécutable"),
    (re.compile(r"^Cannot resolve (?P<kind>dataInputAssociation|dataOutputAssociation) (?P<name>.*)$"),
     "{kind} « {name} » : objet de données introuvable"),
    (re.compile(r"^Duplicate process ID: (?P<id>.*)$"), "identifiant de processus « {id} » en double"),
    (re.compile(r"^(?P<error>KeyError)\((?P<key>.*)\)$"), "référence introuvable : {key}"),
]


def french(text: str) -> str:
    """One SpiffWorkflow sentence in French (unchanged when it is not one of SpiffWorkflow's)."""
    text = (text or "").strip()
    for pattern, template in _PATTERNS:
        match = pattern.match(text)
        if match:
            return template.format(**{k: (v or "") for k, v in match.groupdict().items()})
    return text


def describe_exception(err: BaseException) -> str:
    """An unexpected exception (KeyError, TypeError…) from SpiffWorkflow, in French."""
    if isinstance(err, KeyError):
        return f"référence introuvable : {err.args[0]!r}" if err.args else "référence introuvable"
    return f"{type(err).__name__} : {french(str(err))}"


def describe(err: BaseException, names=None) -> str:
    """The whole message of an engine error: its sentence, its cause and its notes, in French;
    with `names` (the task's variables), a suggestion for a mistyped variable."""
    parts = [french(str(err.args[0]) if getattr(err, "args", None) else str(err))]
    cause = err.__cause__ or err.__context__
    if cause is not None and not isinstance(cause, KeyboardInterrupt):
        cause_text = french(str(cause))
        if cause_text not in parts[0]:
            parts.append(f"{type(cause).__name__} : {cause_text}")
    for note in getattr(err, "__notes__", None) or []:
        translated = french(note)
        if translated and not any(translated in p for p in parts):
            parts.append(translated)
    unknown = _UNKNOWN.search(" ".join(parts))
    if unknown and names and not any("vouliez-vous dire" in p for p in parts):
        close = difflib.get_close_matches(unknown.group(1), [str(n) for n in names], n=1)
        if close:
            parts.append(f"vouliez-vous dire « {close[0]} » ?")
    return " — ".join(p for p in parts if p)


_UNKNOWN = re.compile(r"variable « ([^»]+) » inconnue")
