"""Timer scheduler: APScheduler wakes at the next due timer (or every minute, to see timers
other workers created) and fires what is due. Timers that came due while nothing ran fire
at start."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("arsflow.timers")


class TimerScheduler:
    MAX_SLEEP = timedelta(seconds=60)
    MIN_SLEEP = timedelta(milliseconds=200)
    FOLD_EVERY = timedelta(seconds=30)
    FOLD_BATCHES = 10  # of due_counts.FOLD_BATCH deltas, one transaction each

    def __init__(self, runtime):
        self.runtime = runtime
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._stopped = threading.Event()
        self._sweeping = threading.Lock()
        self._folded = float("-inf")

    def start(self):
        from arsflow.engine.people.notifications import NotificationScheduler
        self.scheduler.start()
        self._schedule(timedelta(0))  # catch up at once
        # Reminders/escalations from task properties, daily digests, email outbox delivery.
        self.notifications = NotificationScheduler(self.runtime, self.scheduler, self._stopped)
        self.notifications.start()

    def _schedule(self, delay: timedelta):
        # APScheduler runs on the wall clock; the engine clock may be simulated, so only the
        # delay until the next due timer is carried over.
        run_date = datetime.now(timezone.utc) + max(delay, timedelta(0))
        # max_instances=4: the next run may be submitted while this one is still returning;
        # the lock below makes such an overlap a no-op instead of an APScheduler warning.
        self.scheduler.add_job(self.sweep, "date", run_date=run_date, id="arsflow-sweep", replace_existing=True,
                               misfire_grace_time=None, max_instances=4, coalesce=True)

    def sweep(self):
        if not self._sweeping.acquire(blocking=False):
            return  # the running sweep reschedules itself
        try:
            delay = self._sweep()
        finally:
            self._sweeping.release()
        if not self._stopped.is_set():  # after the release: the next run must find it free
            self._schedule(delay)

    def _sweep(self) -> timedelta:
        try:
            fired = self.runtime.tick()
            if fired:
                log.info("%s minuterie(s) déclenchée(s)", fired)
        except Exception:  # keep the scheduler alive; the instance records its own incident
            log.exception("échec du balayage des minuteries")
        self._fold_due_counts()
        now = self.runtime.now()
        nxt = self.runtime.next_due()
        return self.MAX_SLEEP if nxt is None else min(max(nxt - now, self.MIN_SLEEP), self.MAX_SLEEP)

    def _fold_due_counts(self):
        """The dashboard's hourly tallies take in the tasks' recent changes (at most every
        FOLD_EVERY: totals read the deltas not folded yet, so this only keeps them few)."""
        from arsflow.engine.people import due_counts
        clock = time.monotonic()
        if clock - self._folded < self.FOLD_EVERY.total_seconds():
            return
        self._folded = clock
        try:
            for _ in range(self.FOLD_BATCHES):  # a backlog (a restart, a bulk import) drains in a few sweeps
                with self.runtime.db.transaction() as session:
                    if due_counts.fold(session.connection()) == 0:
                        break
        except Exception:
            log.exception("échec du regroupement des échéances par jour")

    def wait(self):
        self._stopped.wait()

    def shutdown(self, grace: float = 30.0):
        """Stop scheduling, then let a sweep or notification pass already under way finish
        (up to `grace` seconds) so that nothing writes after the caller moves on."""
        self._stopped.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        notifications = getattr(self, "notifications", None)
        for lock in (self._sweeping, getattr(notifications, "_running", None)):
            if lock is not None and lock.acquire(timeout=grace):
                lock.release()
