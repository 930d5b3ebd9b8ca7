"""Timer event definitions that read arsflow's clock and calendar instead of the wall clock.

SpiffWorkflow 3.2 evaluates timer text as Python (so `P3M` fails), adds 30-day months and
reads `datetime.now()`. Here a literal ISO 8601 value is a literal, `${…}` is an expression,
months end on the same day number, and a timer fires at its instant exactly (`<=`).
With the `calendar` property set to `legal` on the timer event, a duration runs as a French
legal délai in the instance's territory (see engine.legal_calendar), and a timeDate that is a
day (`YYYY-MM-DD`, the délai's last day) fires when that day ends; `legal-no-extension` declares
that this délai is not extended to the next working day.
"""
from __future__ import annotations

from datetime import datetime

from arsflow.engine.time.durations import (Cycle, DurationError, add_duration, is_cron, parse_cron, parse_cycle,
                                           parse_instant, timer_source)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.task import TaskState


def timer_text(my_task, expression, kind="timeDuration"):
    """A literal stays a literal (Camunda's `P3D`, SpiffArena's `"P3D"`); `${expr}` (or
    `#{expr}`) is evaluated against the task data, and so is SpiffArena's Python expression."""
    engine = my_task.workflow.script_engine
    try:
        how, value = timer_source(kind, expression or "")
    except DurationError:
        how, value = "expression", (expression or "").strip()  # reported by the linter; fails below
    if how == "literal":
        return value
    if how == "python":
        return engine.evaluate(my_task, value)
    return engine.evaluate_value(my_task, value)


def _engine(my_task):
    return my_task.workflow.script_engine


class ClockedTimerMixin:
    """Shared by the three kinds: where 'now' and 'the ARS zone' come from."""
    calendar = None  # None | "legal" | "legal-no-extension"
    calendar_territory = None  # a territory code, or None for the instance's `territory`

    def now(self, my_task) -> datetime:
        return _engine(my_task).now()

    def due_at(self, my_task) -> datetime | None:
        value = my_task._get_internal_data("event_value")
        if value is None:
            return None
        if isinstance(value, dict):
            value = value.get("next") if value.get("cycles", 0) != 0 else None
            if value is None:
                return None
        return parse_instant(value)


class ArsTimeDateEventDefinition(ClockedTimerMixin, TimeDateEventDefinition):

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            value = timer_text(my_task, self.expression, "timeDate")
            if self.calendar and _is_day(value):
                # A legal timer on a day: it fires when that day ends (24:00 in the territory),
                # extended to the next working day unless the timer says legal-no-extension.
                due = _engine(my_task).legal_expiry(
                    my_task, str(value).strip()[:10], "P0D", territory=self.calendar_territory,
                    extension=self.calendar != "legal-no-extension")
                event_value = due.isoformat()
            else:
                event_value = parse_instant(value, _engine(my_task).tzinfo).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if parse_instant(event_value) <= self.now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


def _is_day(value) -> bool:
    text = str(value).strip()
    return len(text) == 10 and text[4] == "-" and text[7] == "-"


class ArsDurationTimerEventDefinition(ClockedTimerMixin, DurationTimerEventDefinition):

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            value = timer_text(my_task, self.expression, "timeDuration")
            start = self.now(my_task)
            if self.calendar:
                due = _engine(my_task).legal_expiry(
                    my_task, start, str(value), territory=self.calendar_territory,
                    extension=self.calendar != "legal-no-extension")
            else:
                due = add_duration(start, str(value))
            event_value = due.isoformat()
            my_task._set_internal_data(event_value=event_value)
        if parse_instant(event_value) <= self.now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ArsCycleTimerEventDefinition(ClockedTimerMixin, CycleTimerEventDefinition):
    """`R3/P1W`: each occurrence is computed from the anchor, so month ends don't drift."""

    def cycle_complete(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        now = self.now(my_task)
        text = str(timer_text(my_task, self.expression, "timeCycle")) if event_value is None else None
        if text is not None and is_cron(text):
            event_value = {"cycles": -1, "cron": text,
                           "next": parse_cron(text, _engine(my_task).tzinfo).next_after(now).isoformat()}
        elif text is not None:
            cycle = parse_cycle(text, _engine(my_task).tzinfo)
            anchor = now
            event_value = {
                "cycles": -1 if cycle.repetitions is None else cycle.repetitions,
                "next": cycle.occurrence(0, anchor).isoformat(),
                "anchor": anchor.isoformat(),
                "start": cycle.start.isoformat() if cycle.start else None,
                "period": cycle.period,
                "index": 0,
            }
        ready = False
        if event_value["cycles"] != 0:
            if event_value.get("cron") and parse_instant(event_value["next"]) <= now:
                nxt = parse_cron(event_value["cron"], _engine(my_task).tzinfo).next_after(now)
                event_value = dict(event_value, next=nxt.isoformat() if nxt else None,
                                   cycles=-1 if nxt else 0)
                ready = True
            elif parse_instant(event_value["next"]) <= now:
                index = event_value["index"] + 1
                start = parse_instant(event_value["start"]) if event_value["start"] else None
                occurrence = Cycle(None, start, event_value["period"]).occurrence(
                    index, parse_instant(event_value["anchor"]))
                event_value = dict(event_value, index=index, cycles=event_value["cycles"] - 1,
                                   next=occurrence.isoformat())
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
            return False
        my_task._set_internal_data(event_value=event_value)
        return ready

    def update_task(self, my_task):
        if self.cycle_complete(my_task):
            for output in my_task.task_spec.outputs:
                child = my_task._add_child(output, TaskState.FUTURE)
                child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
                child.task_spec._update(child)


TIMER_CLASSES = {
    "timeDate": ArsTimeDateEventDefinition,
    "timeDuration": ArsDurationTimerEventDefinition,
    "timeCycle": ArsCycleTimerEventDefinition,
}
