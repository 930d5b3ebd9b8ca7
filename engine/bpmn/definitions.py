"""Deployment and versioning of .bpmn/.dmn/.form files, and the parsed-spec cache.

A file whose content changed deploys as version n+1 of each process/decision/form it holds;
an identical redeploy is a no-op; running instances keep the definition they started on.
Everything a deployment writes is one transaction, and nothing is written if the linter or
the parser finds an error.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from arsflow.engine import forms as forms_module
from arsflow.engine.bpmn.lint import Finding, LintReport, lint_sources
from arsflow.engine.bpmn.parser import ArsParser
from arsflow.engine.bpmn.spiff_messages import describe_exception, french
from arsflow.engine.bpmn.xmlsafe import parse_xml
from arsflow.engine.errors import DeploymentError, NotFound
from arsflow.engine.models import DecisionDefinition, Deployment, FormDefinition, ProcessDefinition, Resource
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

KINDS = {".bpmn": "bpmn", ".bpmn20.xml": "bpmn", ".dmn": "dmn", ".dmn11.xml": "dmn", ".form": "form",
         ".docx": "docx", ".odt": "odt"}  # .docx, .odt: document templates (engine.documents.templates)
TEMPLATE_KINDS = ("docx", "odt")
DEPLOYABLE = ".bpmn, .dmn, .form, .docx ou .odt"


def kind_of(name: str) -> str | None:
    lower = name.lower()
    for suffix, kind in KINDS.items():
        if lower.endswith(suffix):
            return kind
    return None


def collect_sources(paths) -> list[tuple[str, bytes]]:
    """Files and folders (recursively) → (file name, bytes) of the deployable files."""
    sources = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and kind_of(child.name):
                    sources.append((child.name, child.read_bytes()))
        elif path.is_file():
            if not kind_of(path.name):
                raise DeploymentError(f"{path} : type de fichier non déployable (attendu {DEPLOYABLE})")
            sources.append((path.name, path.read_bytes()))
        else:
            raise DeploymentError(f"{path} : fichier ou dossier introuvable")
    if not sources:
        raise DeploymentError("aucun fichier .bpmn, .dmn ou .form à déployer")
    return sources


@dataclass
class DeployResult:
    deployment_id: int | None
    created: list = field(default_factory=list)     # [{"kind","key","version","file"}]
    unchanged: list = field(default_factory=list)
    report: LintReport | None = None

    def to_json(self) -> dict:
        return {"deployment_id": self.deployment_id, "created": self.created, "unchanged": self.unchanged,
                "findings": self.report.to_json() if self.report else []}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _latest(session: Session, model, key: str):
    return session.scalars(select(model).where(model.key == key).order_by(model.version.desc()).limit(1)).first()


class BoundedCache:
    """Least recently used entries, at most `size` of them: a server that lives for years
    and sees every version ever deployed keeps only what it uses (memory stays bounded)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class DefinitionStore:
    """Parses each definition version once per process (as long as it is among the most
    recently used); thread-safe caches by id."""
    SPECS, FORMS, DEFINITIONS = 64, 256, 1024

    def __init__(self):
        self._specs = BoundedCache(self.SPECS)
        self._forms = BoundedCache(self.FORMS)
        self._definitions = BoundedCache(self.DEFINITIONS)
        # Called as hook(session, definition, spec, now) for each new process version, in the
        # deployment's transaction (the runtime schedules timer/message start events there).
        self.on_deployed: list = []

    # -- linting and deployment ----------------------------------------------------------
    def known_ids(self, session: Session) -> dict:
        return {
            "known_forms": set(session.scalars(select(FormDefinition.key).distinct())),
            "known_decisions": set(session.scalars(select(DecisionDefinition.key).distinct())),
            "known_processes": set(session.scalars(select(ProcessDefinition.key).distinct())),
        }

    def lint(self, session: Session, sources) -> LintReport:
        templates = [(n, d) for n, d in sources if kind_of(n) in TEMPLATE_KINDS]
        sources = [(n, d) for n, d in sources if kind_of(n) not in TEMPLATE_KINDS]
        report = lint_sources(sources, **self.known_ids(session)) if sources else LintReport()
        from arsflow.engine.documents.templates import check_template
        for name, data in templates:  # document templates: readable and fillable, or refused
            report.findings.extend(Finding(file=name, element_id=None, element_type="template", line=None,
                                           message=message, severity="error")
                                   for message in check_template(name, data))
        from arsflow.engine.bpmn.lint_templates import template_findings
        deployed = session.scalars(select(Resource.name).where(Resource.kind.in_(TEMPLATE_KINDS)).distinct())
        report.findings.extend(template_findings(sources, {n for n, _ in templates} | set(deployed)))
        if report.ok:
            report.findings.extend(self._parse_findings(session, sources, report))
        return report

    def _parse_findings(self, session, sources, report) -> list[Finding]:
        """What SpiffWorkflow's own parser refuses, as findings (linter may not know it all)."""
        findings = []
        parser = ArsParser()
        bpmn = [(n, d) for n, d in sources if kind_of(n) == "bpmn"]
        try:
            for name, data in sources:
                if kind_of(name) == "dmn":
                    parser.add_dmn_xml(parse_xml(data, name).getroot(), filename=name)
            pins = self.version_pins(session, bpmn)  # before the latest versions: they replace them
            # A deployed file defining a process the upload redefines (a renamed copy, say) is
            # replaced by it: loading both would be SpiffWorkflow's "Duplicate process ID".
            for dep in self._dependency_resources(session, report, exclude_names={n for n, _ in sources},
                                                  pins=pins, replaced_keys=set(report.processes)):
                if dep.kind == "dmn":
                    parser.add_dmn_xml(parse_xml(dep.content, dep.name).getroot(), filename=dep.name)
                else:
                    parser.add_bpmn_xml(parse_xml(dep.content, dep.name).getroot(), filename=dep.name)
            for name, data in bpmn:
                parser.add_bpmn_xml(parse_xml(data, name).getroot(), filename=name)
            for key, file in report.processes.items():
                try:
                    parser.get_spec(key)
                    parser.get_subprocess_specs(key)
                except ValidationException as err:
                    findings.append(_finding_from(err, file))
                except Exception as err:  # the parser raises KeyError/TypeError on some inputs
                    findings.append(Finding(file=file, element_id=key, element_type="process", line=None,
                                            message=f"refusé par le moteur : {describe_exception(err)}",
                                            severity="error"))
        except ValidationException as err:
            findings.append(_finding_from(err, getattr(err, "file_name", None) or _files(sources)))
        except Exception as err:
            findings.append(Finding(file=_files(sources), element_id=None, element_type=None, line=None,
                                    message=f"refusé par le moteur : {describe_exception(err)}",
                                    severity="error"))
        return findings

    def _dependency_resources(self, session, report, exclude_names=(), pins=None, replaced_keys=()):
        """Deployed DMN files and BPMN files holding called processes, latest versions (a
        call activity's calledElementBinding="version" pins its own, `pins`), except the files
        of processes in `replaced_keys` (redefined by the files being checked)."""
        resources = list((pins or {}).values())
        for model in (DecisionDefinition, ProcessDefinition):
            latest = (select(model.key, func.max(model.version).label("v")).group_by(model.key).subquery())
            rows = session.execute(select(Resource, model.key).join(model, model.resource_id == Resource.id)
                                   .join(latest, (latest.c.key == model.key) & (latest.c.v == model.version))).all()
            replaced = {res.id for res, key in rows if model is ProcessDefinition and key in replaced_keys}
            for res, _key in rows:
                if res.name not in exclude_names and res not in resources and res.id not in replaced and not (
                        pins and model is ProcessDefinition and _holds_any(res, pins)):
                    resources.append(res)
        return resources

    def version_pins(self, session, sources) -> dict:
        """Process key → the Resource of the version a call activity pins with
        calledElementBinding="version" and calledElementVersion."""
        pins = {}
        for name, data in sources:
            if kind_of(name) != "bpmn":
                continue
            for call in parse_xml(data, name).getroot().iter(f"{{{BPMN_NS}}}callActivity"):
                if call.get(f"{{{CAMUNDA_NS}}}calledElementBinding") != "version":
                    continue
                key, version = call.get("calledElement"), call.get(f"{{{CAMUNDA_NS}}}calledElementVersion")
                row = session.scalars(select(ProcessDefinition).where(
                    ProcessDefinition.key == key, ProcessDefinition.version == int(version))).first()
                if row is None:
                    raise DeploymentError(f"{name} : activité d'appel « {call.get('id')} » : version {version} "
                                          f"du processus « {key} » introuvable")
                pins[key] = session.get(Resource, row.resource_id)
        return pins

    def deploy(self, session: Session, sources, *, name: str = "deployment", source: str | None = None,
               deployed_by: str | None = None, changed_only: bool = True, now=None) -> DeployResult:
        report = self.lint(session, sources)
        if not report.ok:
            raise DeploymentError(
                f"déploiement refusé : {len(report.errors)} erreur(s)\n{report.format_text()}", report=report)
        plan = []  # (kind, key, file, data, sha, model)
        result = DeployResult(deployment_id=None, report=report)
        by_file = dict(sources)
        for key, file in report.processes.items():
            plan.append(("process", key, file, ProcessDefinition))
        for key, file in report.decisions.items():
            plan.append(("decision", key, file, DecisionDefinition))
        for key, file in report.forms.items():
            plan.append(("form", key, file, FormDefinition))
        changed = []
        for kind, key, file, model in plan:
            sha = _sha(by_file[file])
            latest = _latest(session, model, key)
            if changed_only and latest is not None:
                res = session.get(Resource, latest.resource_id)
                if res.sha256 == sha:
                    result.unchanged.append({"kind": kind, "key": key, "version": latest.version, "file": file})
                    continue
            changed.append((kind, key, file, model, sha, latest))
        templates = []  # document templates: a new version when their content changed
        for file, data in sources:
            if kind_of(file) in TEMPLATE_KINDS:
                sha = _sha(data)
                latest = session.scalars(select(Resource).where(Resource.name == file, Resource.kind == kind_of(file))
                                         .order_by(Resource.id.desc())).first()
                if changed_only and latest is not None and latest.sha256 == sha:
                    result.unchanged.append({"kind": "template", "key": file, "version": None, "file": file})
                else:
                    templates.append((file, data, sha))
        if not changed and not templates:
            return result
        deployment = Deployment(name=name, source=source, deployed_by=deployed_by, created_at=now)
        session.add(deployment)
        session.flush()
        resources: dict[str, Resource] = {}
        for kind, key, file, model, sha, latest in changed:
            if file not in resources:
                resources[file] = Resource(deployment_id=deployment.id, name=file, kind=kind_of(file),
                                           content=by_file[file], sha256=sha, created_at=now)
                session.add(resources[file])
        for file, data, sha in templates:
            session.add(Resource(deployment_id=deployment.id, name=file, kind=kind_of(file), content=data, sha256=sha,
                                 created_at=now))
            result.created.append({"kind": "template", "key": file, "version": None, "file": file})
        session.flush()
        definitions = []
        for kind, key, file, model, sha, latest in changed:
            row = model(key=key, version=(latest.version + 1) if latest else 1,
                        resource_id=resources[file].id, deployment_id=deployment.id)
            if model is ProcessDefinition:
                row.name = _process_name(by_file[file], file, key)
                row.created_at = now
            session.add(row)
            definitions.append(row)
            result.created.append({"kind": kind, "key": key, "version": row.version, "file": file})
        session.flush()
        pins = self.version_pins(session, sources)
        for row in definitions:
            if isinstance(row, ProcessDefinition):
                row.dependencies = [r.id for r in self._dependency_resources(session, report, pins=pins)
                                    if r.id != row.resource_id]
                spec, _ = self.spec_for(session, row)  # a definition that cannot be built is not deployed
                for hook in self.on_deployed:
                    hook(session, row, spec, now)
        result.deployment_id = deployment.id
        return result

    # -- specs and forms -----------------------------------------------------------------
    def spec_for(self, session: Session, definition: ProcessDefinition):
        cached = self._specs.get(definition.id)
        if cached is not None:
            return cached
        parser = ArsParser()
        main = session.get(Resource, definition.resource_id)
        deps = [session.get(Resource, rid) for rid in (definition.dependencies or [])]
        try:
            for res in deps:
                root = parse_xml(res.content, res.name).getroot()
                if res.kind == "dmn":
                    parser.add_dmn_xml(root, filename=res.name)
                elif res.name != main.name:
                    parser.add_bpmn_xml(root, filename=res.name)
            parser.add_bpmn_xml(parse_xml(main.content, main.name).getroot(), filename=main.name)
            built = (parser.get_spec(definition.key), parser.get_subprocess_specs(definition.key))
            for process_spec in [built[0], *built[1].values()]:
                _connect_loops(process_spec)
        except ValidationException as err:
            raise DeploymentError(f"{main.name} : {french(str(err.args[0]) if err.args else str(err))}") from err
        self._specs.put(definition.id, built)
        return built

    def form(self, session: Session, form_definition_id: int) -> forms_module.Form:
        cached = self._forms.get(form_definition_id)
        if cached is not None:
            return cached
        row = session.get(FormDefinition, form_definition_id)
        if row is None:
            raise NotFound(f"formulaire {form_definition_id} introuvable")
        res = session.get(Resource, row.resource_id)
        form = forms_module.load_form(res.content, filename=res.name)
        self._forms.put(form_definition_id, form)
        return form

    def definition(self, session: Session, definition_id: int) -> ProcessDefinition:
        """Definition rows never change once deployed: cached by id, detached."""
        cached = self._definitions.get(definition_id)
        if cached is None:
            cached = session.get(ProcessDefinition, definition_id)
            if cached is None:
                raise NotFound(f"définition {definition_id} introuvable")
            session.expunge(cached)
            self._definitions.put(definition_id, cached)
        return cached

    def latest_process(self, session: Session, key: str) -> ProcessDefinition:
        definition_id = session.connection().execute(_LATEST_PROCESS_ID, {"key": key}).scalar()
        if definition_id is None:
            raise NotFound(f"aucune procédure déployée avec la clé {key!r}")
        return self.definition(session, definition_id)

    def form_ids(self, session: Session, refs: set[tuple[str, str, str | None, int]]) -> dict:
        """(formRef, binding, version, deployment id) → form definition id, in one query."""
        keys = {r[0] for r in refs}
        if not keys:
            return {}
        rows = session.execute(select(FormDefinition.id, FormDefinition.key, FormDefinition.version,
                                      FormDefinition.deployment_id).where(FormDefinition.key.in_(keys))).all()
        resolved = {}
        for ref in refs:
            key, binding, version, deployment_id = ref
            candidates = [r for r in rows if r.key == key]
            if binding == "version" and version is not None:
                candidates = [r for r in candidates if r.version == int(version)]
            elif binding == "deployment":
                same = [r for r in candidates if r.deployment_id == deployment_id]
                candidates = same or [r for r in candidates if r.deployment_id <= deployment_id]
            if candidates:
                resolved[ref] = max(candidates, key=lambda r: r.version).id
        return resolved


BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"


def _holds_any(resource, pins) -> bool:
    """A deployed BPMN file that defines a pinned process (its pinned version is used instead)."""
    root = parse_xml(resource.content, resource.name).getroot()
    return any(p.get("id") in pins for p in root.iterchildren(f"{{{BPMN_NS}}}process"))


_PD = ProcessDefinition.__table__
_LATEST_PROCESS_ID = (select(_PD.c.id).where(_PD.c.key == bindparam("key"))
                      .order_by(_PD.c.version.desc()).limit(1))


def _process_name(data: bytes, file: str, key: str) -> str | None:
    root = parse_xml(data, file).getroot()
    for node in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}process"):
        if node.get("id") == key:
            return node.get("name")
    return None


def _files(sources) -> str:
    return ", ".join(name for name, _ in sources) or "(aucun fichier)"


def _finding_from(err: ValidationException, file: str) -> Finding:
    text = french(str(err.args[0])) if err.args else french(str(err))
    return Finding(file=getattr(err, "file_name", None) or file, element_id=getattr(err, "id", None) or None,
                   element_type=getattr(err, "tag", None) or None, line=getattr(err, "line_number", None) or None,
                   message=f"refusé par le moteur : {text}", severity="error")


def _connect_loops(process_spec) -> None:
    """Link each multi-instance/loop task to its child's completion, as SpiffWorkflow's
    serializer does when it restores a spec. SpiffWorkflow links them only when the first child
    is created, in memory: a freshly parsed spec loaded with an instance whose children already
    exist (a new process, a restarted worker) would never see the last child finish."""
    for task_spec in process_spec.task_specs.values():
        merge = getattr(task_spec, "merge_child", None)
        child_name = getattr(task_spec, "task_spec", None)
        if merge is None or not isinstance(child_name, str):
            continue
        child = process_spec.task_specs.get(child_name)
        if child is not None and not child.completed_event.is_connected(merge):
            child.completed_event.connect(merge)
        # SpiffWorkflow's Camunda multi-instance sets its input collection (= camunda:collection)
        # only when the task starts, on the spec itself: a fresh spec must have it too, or the
        # children of a restored instance are appended to the collection instead of updating it.
        output = getattr(task_spec, "data_output", None)
        if (getattr(task_spec, "cardinality", "") is None and output is not None
                and getattr(task_spec, "data_input", None) is None):
            from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
            task_spec.data_input = TaskDataReference(output.bpmn_id)
            if task_spec.output_item is not None:
                task_spec.input_item = TaskDataReference(task_spec.output_item.bpmn_id)
