"""The script engine every instance runs with: sandboxed Python, arsflow's clock and calendar,
the `${…}` evaluation of Camunda attributes, and service-task dispatch.

SpiffWorkflow does not serialize the script engine, so the runtime sets it after each load.
"""
from __future__ import annotations

from contextvars import ContextVar
from copy import deepcopy
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from arsflow.engine.bpmn import juel
from arsflow.engine.bpmn.expressions import compile_expression, split_marked, unwrap
from arsflow.engine.bpmn.juel_beans import ExecutionBean, TaskBean
from arsflow.engine.bpmn.sandbox import RestrictedEnvironment
from arsflow.engine.errors import Refused
from arsflow.engine.input_checks import saveable_problem, untuple
from arsflow.engine.bpmn.script_limits import Limits
from arsflow.engine.services import (
    EXTERNAL_INPUTS,
    ServiceCall,
    ServiceRegistry,
    default_registry,
    external_topic,
)
from arsflow.engine.time import legal_calendar
from arsflow.engine.time.clock import Clock
from arsflow.engine.time.durations import add_duration as _add_duration
from arsflow.engine.time.durations import parse_instant
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from arsflow.engine.bpmn.error_events import BpmnError, bpmn_error, park
_current_data: ContextVar[dict | None] = ContextVar("arsflow_task_data", default=None)


class ScriptContext:
    """What helpers need that is shared by every operation of one runtime."""

    def __init__(self, clock: Clock, timezone_name: str, territory: str):
        self.clock = clock
        self.tzinfo = ZoneInfo(timezone_name)
        self.default_territory = territory

    def now(self) -> datetime:
        return self.clock.now()

    def territory_of(self, data: dict | None, territory: str | None = None) -> str:
        return territory or (data or {}).get("territory") or self.default_territory

    def zone_of(self, territory: str) -> ZoneInfo:
        try:
            return ZoneInfo(legal_calendar.resolve_territory(territory).timezone)
        except legal_calendar.LegalCalendarError:
            return self.tzinfo


def build_environment(ctx: ScriptContext, extra_helpers: dict | None = None,
                      limits: Limits | None = None) -> RestrictedEnvironment:
    """One sandbox per runtime: its compiled-code cache is shared by every operation."""

    def data():
        return _current_data.get() or {}

    def legal_deadline(start, delay, territory=None, extension=True):
        code = ctx.territory_of(data(), territory)
        return legal_calendar.compute_deadline(start, delay, code, extension=extension).expires_at.isoformat()

    def days_before(instant, n, working=False, territory=None):
        code = ctx.territory_of(data(), territory)
        zone = ctx.zone_of(code)
        local = parse_instant(instant, zone).astimezone(zone)
        day = legal_calendar.days_before(local.date(), int(n), code, working=bool(working))
        moved = datetime.combine(day, local.time().replace(tzinfo=None)).replace(tzinfo=zone)
        return moved.astimezone(timezone.utc).isoformat()

    def add_duration(start, delay):
        if isinstance(start, date) and not isinstance(start, datetime):
            return _add_duration(start, delay).isoformat()
        if isinstance(start, str) and len(start.strip()) == 10:
            return _add_duration(date.fromisoformat(start.strip()), delay).isoformat()
        zone = ctx.zone_of(ctx.territory_of(data()))
        local = parse_instant(start, zone).astimezone(zone)
        return _add_duration(local, delay).astimezone(timezone.utc).isoformat()

    def legal_deadline_details(start, delay, territory=None, extension=True, basis=None):
        """What a form or message shows: the expiry instant, the délai's last day, the same in
        French words (« lundi 1er mars 2027 à 24 h (heure de Paris) ») and the explanation."""
        code = ctx.territory_of(data(), territory)
        computed = legal_calendar.compute_deadline(start, delay, code, extension=extension)
        return {"expires_at": computed.expires_at.isoformat(), "last_day": computed.end.isoformat(),
                "text": legal_calendar.french_deadline(computed.expires_at, computed.territory),
                "explanation": computed.explanation(basis)}

    def french_deadline(instant, territory=None):
        code = ctx.territory_of(data(), territory)
        return legal_calendar.french_deadline(parse_instant(instant, ctx.zone_of(code)), code)

    def french_day(day):
        return legal_calendar.french_date(date.fromisoformat(str(day)[:10]))

    def territory_region(territory=None):
        """ARS region code of a territory (`75` → `IDF`, `974` → `974`), None when it has no ARS."""
        try:
            return legal_calendar.resolve_territory(ctx.territory_of(data(), territory)).region
        except legal_calendar.LegalCalendarError:
            return None

    def refuse(message):
        raise Refused(str(message))

    def now():
        return ctx.now().isoformat()

    def today(territory=None):
        zone = ctx.zone_of(ctx.territory_of(data(), territory))
        return ctx.now().astimezone(zone).date().isoformat()

    helpers = {"legal_deadline": legal_deadline, "days_before": days_before,
               "add_duration": add_duration, "now": now, "today": today,
               "legal_deadline_details": legal_deadline_details, "french_deadline": french_deadline,
               "french_day": french_day, "refuse": refuse, "territory_region": territory_region,
               "date": date, "datetime": datetime, "timedelta": timedelta,
               "bpmn_error": bpmn_error, "BpmnError": BpmnError}
    helpers.update(extra_helpers or {})
    return RestrictedEnvironment(helpers, limits)


def _bpmn_error_in(err: BaseException):
    """The BpmnError a script raised, under SpiffWorkflow's wrapping."""
    seen = err
    for _ in range(5):
        if isinstance(seen, BpmnError):
            return seen
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            return None
    return None


def _check_saveable(task, before: dict) -> None:
    """What a script leaves must save and come back the same in the next process: otherwise
    the script's element is the incident (its data as before the script, so the instance
    saves), never a failure of the whole save or of every other instance's timers."""
    untuple(task.data)
    problem = saveable_problem(task.data)
    if problem is None:
        return
    task.data.clear()
    task.data.update(before)
    parent = task.parent.data if task.parent is not None else {}
    while (left := saveable_problem(task.data)) is not None:  # a container changed in place
        name = left[0].split(".")[0]
        if name in parent and saveable_problem({name: parent[name]}) is None:
            task.data[name] = deepcopy(parent[name])
        else:
            task.data.pop(name, None)
    path, reason = problem
    raise WorkflowTaskException(f"la variable « {path} » ne peut pas être enregistrée : {reason}", task=task)


class ArsScriptEngine(PythonScriptEngine):
    """Per operation: carries the instance being run and the side effects it produced."""

    def __init__(self, ctx: ScriptContext, environment: RestrictedEnvironment,
                 services: ServiceRegistry | None = None, instance_id=None, business_key=None):
        super().__init__(environment=environment)
        self.ctx = ctx
        self.services = services or default_registry()
        self.instance_id = instance_id
        self.business_key = business_key
        self.effects: list = []
        # The operation's session and the instance's definition: services that read deployed
        # resources while their element runs (the `document` topic fills its template there).
        self.session = None
        self.definition_id = None

    @property
    def tzinfo(self):
        return self.ctx.tzinfo

    def now(self) -> datetime:
        return self.ctx.now()

    def legal_expiry(self, my_task, start: datetime, delay: str, territory=None, extension=True) -> datetime:
        code = self.ctx.territory_of(my_task.data, territory)
        return legal_calendar.compute_deadline(start, delay, code, extension=extension).expires_at

    # -- evaluation with the task's data in reach of the helpers ------------------------
    def evaluate(self, task, expression, external_context=None, deferred=None):
        """A condition or `${…}` body, in JUEL or Python (`expressions.compile_expression`
        decides); `deferred` says the body was written `#{…}` when the caller unwrapped it."""
        token = _current_data.set(task.data)
        try:
            if deferred is None:
                body, deferred = unwrap(expression)
            else:
                body = expression
            try:
                compiled = compile_expression(body, deferred)
            except Exception as err:
                raise WorkflowTaskException(f"expression « {expression} » illisible : {err}", task=task,
                                            exception=err) from err
            if compiled.language == "python":
                return super().evaluate(task, body, external_context)
            return self._evaluate_juel(task, compiled, external_context)
        finally:
            _current_data.reset(token)

    def _evaluate_juel(self, task, compiled, external_context=None):
        variables = dict(task.data, **(external_context or {}))
        functions = {name: f for name, f in self.environment.globals.items() if callable(f)}
        objects = {"execution": ExecutionBean(task, self, variables), "task": TaskBean(task, self, variables)}
        try:
            return juel.evaluate(compiled.tree, variables, functions, objects)
        except juel.JuelError as err:
            raise WorkflowTaskException(f"expression « {compiled.body} » : {err}", task=task, exception=err) from err
        except Exception as err:
            raise WorkflowTaskException(f"expression « {compiled.body} » : {type(err).__name__}: {err}",
                                        task=task, exception=err) from err

    def execute(self, task, script, external_context=None):
        token = _current_data.set(task.data)
        before = dict(task.data)
        try:
            done = super().execute(task, script, external_context)
        except WorkflowTaskException as err:
            error = _bpmn_error_in(err)
            if error is None:
                raise
            park(task, error)  # the script task stops here; the runtime throws the error
            return None
        finally:
            _current_data.reset(token)
        _check_saveable(task, before)
        return done

    def execute_in(self, task, script, context: dict):
        """Run a script on `context` (a copy of the task data), as SpiffWorkflow runs one on the
        task data: a camunda:script parameter's value must not write to the process."""
        token = _current_data.set(task.data)
        try:
            self.environment.execute(script, context)
        except WorkflowTaskException:
            raise
        except Exception as err:
            raise self.create_task_exec_exception(task, script, err) from err
        finally:
            _current_data.reset(token)

    def evaluate_value(self, task, value):
        """A Camunda attribute value: `${expr}` alone keeps the result's type, text with
        embedded `${…}` is interpolated, lists and maps are evaluated item by item."""
        if isinstance(value, list):
            return [self.evaluate_value(task, v) for v in value]
        if isinstance(value, dict):
            if set(value) == {"script", "format"}:
                from arsflow.engine.bpmn.io_mapping import run_script_value
                return run_script_value(task, value["script"])
            return {k: self.evaluate_value(task, v) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        parts = split_marked(value.strip())
        if len(parts) == 1 and parts[0][0] == "expr":
            return self.evaluate(task, parts[0][1], deferred=parts[0][2])
        parts = split_marked(value)
        if not any(kind == "expr" for kind, _, _ in parts):
            return value
        # A composite ("Bonjour ${name}") is a text: each part as EL prints it (null → "").
        return "".join(text if kind == "text" else juel.to_string(self.evaluate(task, text, deferred=deferred))
                       for kind, text, deferred in parts)

    # -- service tasks ------------------------------------------------------------------
    def run_service(self, task) -> bool:
        ext = getattr(task.task_spec, "extensions", {}) or {}
        key = self.services.handler_key(ext)
        handler = self.services.get(key) if key else None
        if handler is None and external_topic(ext, self.services):
            # A topic no built-in handler owns waits for a worker (engine.external_tasks): the
            # task stays STARTED; its input parameters are local to it, as in Camunda.
            task.internal_data[EXTERNAL_INPUTS] = {name: task.data.get(name) for name in ext.get("inputs", {})}
            return None
        if handler is None:
            known = ", ".join(self.services.keys()) or "aucun"
            raise WorkflowTaskException(
                f"aucun gestionnaire enregistré pour la tâche de service "
                f"({'clé ' + repr(key) if key else 'sans camunda:topic/type/class'}) ; enregistrés : {known}",
                task=task)
        # camunda:inputOutput inputs were evaluated into the task's local scope when it became ready.
        inputs = {name: task.data.get(name) for name in ext.get("inputs", {})}
        call = ServiceCall(element_id=task.task_spec.bpmn_id, name=task.task_spec.bpmn_name, key=key,
                           inputs=inputs, data=task.data, instance_id=self.instance_id,
                           business_key=self.business_key, now=self.now(), task=task)
        try:
            result = handler(call) or {}
        except BpmnError as error:
            self.effects.extend(call.effects)
            park(task, error)
            return None
        except WorkflowTaskException:
            raise
        except Exception as err:
            raise WorkflowTaskException(f"le gestionnaire {key!r} a échoué : {err}", task=task, exception=err)
        self.effects.extend(call.effects)
        if ext.get("resultVariable"):
            task.data[ext["resultVariable"]] = result
        elif isinstance(result, dict):
            task.data.update(result)
        return True
