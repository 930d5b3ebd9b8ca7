"""`arsflow` command line: the public contract of the engine (see README).

Each command imports what it needs when it runs: SpiffWorkflow, Alembic, Flask and the
parsers cost most of a second to import, and `arsflow tasks` or `--help` need none of them
(measure with `python -X importtime -m arsflow.cli.main tasks`).
"""
from __future__ import annotations

import argparse
import json
import re
import os
import sys
from pathlib import Path
from datetime import datetime

from arsflow.engine.errors import ArsflowError, DeploymentError, InvalidInput


def _json_arg(text: str | None, what: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"{what} : JSON illisible ({err.msg}, colonne {err.colno})") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} : un objet JSON est attendu, pas {type(value).__name__}")
    return value


def _now(text: str | None):
    from arsflow.engine.time.clock import FixedClock, SystemClock
    if not text:
        return SystemClock()
    try:
        return FixedClock(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidInput(f"--now : instant ISO 8601 illisible : {text!r}") from None


def open_database(args):
    """Settings and an up-to-date database, without the engine."""
    from arsflow.engine.config import Settings
    from arsflow.engine.db import Database
    from arsflow.engine.migrate import upgrade
    settings = Settings(database_url=args.db) if args.db else Settings()
    db = Database(settings.database_url)
    upgrade(db.engine)
    return settings, db


def build_runtime(args):
    from arsflow.engine.runtime import Runtime
    settings, db = open_database(args)
    runtime = Runtime(db, settings, clock=_now(args.now))
    from arsflow.engine.people import notifications
    notifications.install(runtime)  # service topics notification/reassign + email outbox
    return runtime


def _print(args, data, text=None):
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif text is not None:
        print(text)
    else:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# -- commands ------------------------------------------------------------------------------
def cmd_init(args):
    rt = build_runtime(args)
    result = {"database": rt.db.url, "demo": None}
    if args.demo:
        from arsflow.processes.demo import load_demo
        result["demo"] = load_demo(rt)
    if args.json:
        _print(args, result)
        return 0
    print(f"Base prête : {rt.db.url}")
    if result["demo"]:
        demo = result["demo"]
        print(f"Données de démonstration chargées ({len(demo['instances'])} instances).")
        print(f"Comptes de démonstration (mot de passe : {demo['password']}) :")
        for login, groups in demo["users"].items():
            print(f"  {login:<20} {', '.join(groups)}")
    return 0


def cmd_deploy(args, lint_only=False):
    from arsflow.engine.bpmn.definitions import collect_sources
    rt = build_runtime(args)
    sources = collect_sources(args.paths)
    with rt.db.transaction() as session:
        if lint_only:
            report = rt.definitions.lint(session, sources)
            _print(args, {"ok": report.ok, "findings": report.to_json()},
                   report.format_text() or f"{len(sources)} fichier(s) vérifié(s) : aucun problème")
            return 0 if report.ok else 1
        result = rt.definitions.deploy(session, sources, name=os.path.basename(args.paths[0].rstrip("/")),
                                       source="cli", now=rt.now())
    lines = [f"déployé : {c['kind']} {c['key']} v{c['version']} ({c['file']})" for c in result.created]
    lines += [f"inchangé : {c['kind']} {c['key']} v{c['version']} ({c['file']})" for c in result.unchanged]
    warnings = result.report.format_text() if result.report and result.report.findings else ""
    _print(args, result.to_json(), "\n".join(lines + ([warnings] if warnings else [])))
    return 0


def cmd_users_add(args):
    from arsflow.engine.people import users
    rt = build_runtime(args)
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    with rt.db.transaction() as session:
        user = users.add_user(session, args.login, args.group or [], password=password, email=args.email,
                              display_name=args.name, now=rt.now())
        if args.notifications:
            from arsflow.engine.people.notifications import set_preference
            set_preference(session, user.login, args.notifications)
        groups = sorted(users.groups_of(session, user.login))
    _print(args, {"login": user.login, "groups": groups, "email": user.email,
                  "notifications": user.notification_preference or "immediate"},
           f"utilisateur {user.login} : groupes {', '.join(groups) or '(aucun)'} ; "
           f"notifications : {user.notification_preference or 'immediate'}")
    return 0


def cmd_notify_send(args):
    rt = build_runtime(args)
    notifier = rt.notifier
    issued = notifier.scan_deadlines()
    report = dict(notifier.deliver(limit=args.limit), issued=issued)
    if not notifier.mail.enabled:
        print("ARSFLOW_SMTP_HOST n'est pas défini : aucun courriel envoyé, les messages attendent dans la file",
              file=sys.stderr)
    _print(args, report, f"{issued} rappel(s)/relance(s) émis ; {report['sent']} courriel(s) envoyé(s), "
                         f"{report['retry']} reporté(s), {report['failed']} en échec définitif")
    return 0 if notifier.mail.enabled else 1


def cmd_digest(args):
    from arsflow.engine.people.digest import queue_due_digests
    rt = build_runtime(args)
    queued = queue_due_digests(rt, rt.notifier, force=args.any_hour)
    report = dict(rt.notifier.deliver(limit=args.limit), digests=queued)
    _print(args, report, f"{queued} récapitulatif(s) composé(s) ; {report['sent']} courriel(s) envoyé(s), "
                         f"{report['retry']} reporté(s), {report['failed']} en échec définitif")
    return 0


def cmd_start(args):
    rt = build_runtime(args)
    result = rt.start(args.process_key, _json_arg(args.data, "--data"), business_key=args.business_key,
                      actor=args.as_)
    _print(args, result, f"instance {result['instance_id']} : {result['state']}")
    return 0


def _task_line(t):
    due = t["due_at"] or "sans échéance"
    who = t["assignee"] or ",".join(t["candidate_groups"] + t["candidate_users"]) or "-"
    return f"{t['id']}  {t['process_key']}#{t['instance_id']}  {t['name']}  [{who}]  échéance : {due}"


def cmd_tasks(args):
    """A read: the database and the task lists, not the engine."""
    from sqlalchemy import select
    from arsflow.engine.errors import NotFound
    from arsflow.engine.models import User, UserGroup
    from arsflow.engine.people import task_lists
    _settings, db = open_database(args)
    with db.read() as session:
        groups = ()
        if args.as_ is not None:
            if session.scalar(select(User.login).where(User.login == args.as_, User.active.is_(True))) is None:
                raise NotFound(f"utilisateur {args.as_!r} inconnu")
            groups = frozenset(session.scalars(select(UserGroup.group).where(UserGroup.login == args.as_)))
        rows = task_lists.list_tasks(session, args.as_, groups, instance_id=args.instance,
                                     overdue_before=_now(args.now).now() if args.overdue else None)
        tasks = [task_lists.task_json(t) for t in rows]
    db.dispose()
    _print(args, tasks, "\n".join(_task_line(t) for t in tasks) or "aucune tâche")
    return 0


def cmd_claim(args, unclaim=False):
    rt = build_runtime(args)
    result = rt.unclaim(args.task_id, args.as_) if unclaim else rt.claim(args.task_id, args.as_)
    _print(args, result, f"tâche {result['id']} : {'relâchée' if unclaim else 'prise en charge par ' + args.as_}")
    return 0


def cmd_assign(args):
    rt = build_runtime(args)
    result = rt.assign(args.task_id, args.to, args.as_)
    _print(args, result, f"tâche {result['id']} attribuée à {args.to}")
    return 0


def cmd_complete(args):
    rt = build_runtime(args)
    files = rt.documents.receive([(Path(p).name, Path(p).read_bytes()) for p in args.attach or []])
    result = rt.complete(args.task_id, _json_arg(args.data, "--data"), actor=args.as_, attachments=files)
    _print(args, result, f"tâche terminée ; instance {result['instance_id']} : {result['state']}")
    return 0


def cmd_message(args):
    rt = build_runtime(args)
    correlate = None
    if args.correlate:
        correlate = {}
        for item in args.correlate:
            if "=" not in item:
                raise InvalidInput(f"--correlate attend VAR=VALEUR, reçu {item!r}")
            key, value = item.split("=", 1)
            correlate[key] = value
    result = rt.message(args.name, business_key=args.business_key, correlate=correlate,
                        data=_json_arg(args.data, "--data"))
    if result.get("started"):
        _print(args, result, f"message {args.name} : instance {result['instance_id']} démarrée ({result['process_key']}) : "
                             f"{result['state']}")
    else:
        _print(args, result, f"message {args.name} remis à l'instance {result['instance_id']} : {result['state']}")
    return 0


def cmd_tick(args):
    rt = build_runtime(args)
    fired = rt.tick()
    _print(args, {"fired": fired, "now": rt.now().isoformat()}, f"{fired} minuterie(s) déclenchée(s)")
    return 0


def cmd_show(args):
    rt = build_runtime(args)
    data = rt.show(args.instance_id)
    if args.json:
        _print(args, data)
        return 0
    print(f"instance {data['id']} — {data['process_key']} v{data['version']} — {data['state']}"
          + (f" — clé {data['business_key']}" if data["business_key"] else ""))
    if data["incident"]:
        print(f"  incident sur {data['incident'].get('element_id')} : {data['incident'].get('message')}")
    for t in data["tasks"]:
        print(f"  tâche {t['state']:<9} {t['name']} ({t['id']}) échéance {t['due_at'] or '-'}")
    for t in data["timers"]:
        print(f"  minuterie {t['status']:<9} {t['name']} → {t['due_at']}")
    for t in data.get("external_tasks") or []:
        held = f" verrouillée par {t['worker_id']} jusqu'à {t['lock_expires_at']}" if t["worker_id"] else ""
        failed = f" — incident : {t['error_message']}" if t["incident"] else ""
        print(f"  tâche externe {t['state']:<9} {t['name'] or t['element_id']} (sujet {t['topic']}){held}{failed}")
    print("  variables : " + json.dumps(data["variables"], ensure_ascii=False, default=str))
    return 0


def cmd_document(args):
    """One document of an instance, written to --out (documents listed by `show --json`)."""
    rt = build_runtime(args)
    with rt.db.read() as session:
        row = rt.documents.get(session, args.document_id)
        data = rt.documents.content(row)
        info = {"id": row.id, "name": row.name, "media_type": row.media_type, "size": row.size,
                "sha256": row.sha256, "out": args.out}
    Path(args.out).write_bytes(data)
    _print(args, info, f"{info['name']} ({info['size']} octets) écrit dans {args.out}")
    return 0


def cmd_retry(args):
    rt = build_runtime(args)
    result = rt.retry(args.instance_id, data=_json_arg(args.data, "--data"), actor=args.as_,
                      latest_definition=args.latest_definition)
    _print(args, result, f"instance {result['instance_id']} : {result['state']}")
    return 0 if result["state"] != "incident" else 1


def cmd_terminate(args):
    rt = build_runtime(args)
    result = rt.terminate(args.instance_id, actor=args.as_, reason=args.reason)
    _print(args, result, f"instance {result['instance_id']} : {result['state']}")
    return 0


def cmd_suspend(args, resume=False):
    rt = build_runtime(args)
    if resume:
        result = rt.resume_deadlines(args.instance_id, actor=args.as_, on=args.on)
    else:
        result = rt.suspend_deadlines(args.instance_id, actor=args.as_, reason=args.reason, on=args.on)
    _print(args, result, f"instance {result['instance_id']} : {result['state']}")
    return 0


def cmd_deadline(args):
    from arsflow.engine.time import legal_calendar
    try:
        deadline = legal_calendar.compute_deadline(args.start, args.delay, args.territory,
                                                   extension=not args.no_extension)
    except legal_calendar.LegalCalendarError as err:
        raise InvalidInput(str(err)) from None
    _print(args, deadline.to_json(), deadline.explanation())
    return 0


def cmd_serve(args, web=True):
    from arsflow.engine.bpmn.script_limits import apply_process_memory_limit
    from arsflow.engine.time.scheduler import TimerScheduler
    rt = build_runtime(args)
    apply_process_memory_limit(rt.settings.memory_limit_mb)
    scheduler = TimerScheduler(rt)
    scheduler.start()
    if not web:
        print("arsflow worker : minuteries surveillées (Ctrl+C pour arrêter)")
        try:
            scheduler.wait()
        except KeyboardInterrupt:
            pass
        finally:
            scheduler.shutdown()
        return 0
    from arsflow.web import create_app
    from waitress import serve
    # Workers' long polls (fetchAndLock with asyncResponseTimeout) each hold a thread while they
    # wait: at most half the threads do (ARSFLOW_LONG_POLLS), the rest serve people.
    threads = 16
    app = create_app(runtime=rt, config={"ARSFLOW_LONG_POLLS": threads // 2})
    print(f"arsflow : http://{args.host}:{args.port}/ (Ctrl+C pour arrêter)")
    try:
        serve(app, host=args.host, port=args.port, threads=threads)
    finally:
        scheduler.shutdown()
    return 0


_ARGPARSE_FR = (
    ("the following arguments are required", "arguments obligatoires manquants"),
    ("unrecognized arguments", "arguments inconnus"),
    ("invalid int value", "entier invalide"),
    ("invalid choice", "choix invalide"),
    ("expected one argument", "une valeur est attendue"),
    ("not allowed with argument", "incompatible avec l'argument"),
    ("one of the arguments", "l'un de ces arguments est obligatoire :"),
    ("is required", ""),
)


class FrenchArgumentParser(argparse.ArgumentParser):
    """argparse's own usage errors, in French."""

    def error(self, message):
        for english, french in _ARGPARSE_FR:
            message = message.replace(english, french)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog} : erreur : {message.strip()}\n")


def parser() -> argparse.ArgumentParser:
    common = FrenchArgumentParser(add_help=False)
    common.add_argument("--db", help="URL SQLAlchemy (défaut : SQLite sous instance/, ou ARSFLOW_DATABASE_URL)")
    common.add_argument("--now", help="horloge du moteur pour cette commande (ISO 8601)")
    common.add_argument("--json", action="store_true", help="sortie JSON")

    p = FrenchArgumentParser(prog="arsflow", description="Moteur BPMN et corbeille de tâches des ARS")
    sub = p.add_subparsers(dest="command", required=True, parser_class=FrenchArgumentParser)

    s = sub.add_parser("init", parents=[common], help="crée ou met à jour la base")
    s.add_argument("--demo", action="store_true", help="charge les procédures et des données de démonstration")
    s.set_defaults(func=cmd_init)

    for name, lint in (("deploy", False), ("lint", True)):
        s = sub.add_parser(name, parents=[common], help="déploie" if not lint else "vérifie sans déployer")
        s.add_argument("paths", nargs="+")
        s.set_defaults(func=lambda a, lint=lint: cmd_deploy(a, lint_only=lint))

    users = sub.add_parser("users", help="comptes").add_subparsers(dest="users_command", required=True)
    s = users.add_parser("add", parents=[common], help="crée ou met à jour un compte")
    s.add_argument("login")
    s.add_argument("--group", action="append")
    s.add_argument("--email")
    s.add_argument("--name")
    s.add_argument("--password-stdin", action="store_true")
    s.add_argument("--notifications", choices=["immediate", "digest", "none"],
                   help="courriel immédiat (défaut), récapitulatif quotidien seulement, ou rien")
    s.set_defaults(func=cmd_users_add)

    notify = sub.add_parser("notify", help="notifications par courriel").add_subparsers(dest="notify_command",
                                                                                       required=True)
    s = notify.add_parser("send", parents=[common], help="émet les rappels/relances échus et envoie la file")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(func=cmd_notify_send)

    s = sub.add_parser("digest", parents=[common], help="compose et envoie les récapitulatifs du jour")
    s.add_argument("--any-hour", action="store_true", help="sans attendre ARSFLOW_DIGEST_HOUR")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(func=cmd_digest)

    s = sub.add_parser("start", parents=[common], help="démarre une instance")
    s.add_argument("process_key")
    s.add_argument("--data")
    s.add_argument("--business-key")
    s.add_argument("--as", dest="as_", required=True)
    s.set_defaults(func=cmd_start)

    s = sub.add_parser("tasks", parents=[common], help="liste les tâches ouvertes")
    s.add_argument("--as", dest="as_")
    s.add_argument("--instance", type=int)
    s.add_argument("--overdue", action="store_true")
    s.set_defaults(func=cmd_tasks)

    for name, un in (("claim", False), ("unclaim", True)):
        s = sub.add_parser(name, parents=[common])
        s.add_argument("task_id")
        s.add_argument("--as", dest="as_", required=True)
        s.set_defaults(func=lambda a, un=un: cmd_claim(a, unclaim=un))

    s = sub.add_parser("assign", parents=[common],
                       help="attribue une tâche qui ne désigne personne (administrateurs, ARSFLOW_ADMINS_GROUP)")
    s.add_argument("task_id")
    s.add_argument("--to", required=True)
    s.add_argument("--as", dest="as_", required=True)
    s.set_defaults(func=cmd_assign)

    s = sub.add_parser("complete", parents=[common], help="termine une tâche")
    s.add_argument("task_id")
    s.add_argument("--data")
    s.add_argument("--attach", action="append", metavar="FICHIER", help="pièce jointe (répétable)")
    s.add_argument("--as", dest="as_", required=True)
    s.set_defaults(func=cmd_complete)

    s = sub.add_parser("message", parents=[common],
                       help="remet un message à l'instance qui l'attend, ou démarre le processus qui commence par ce message")
    s.add_argument("name")
    group = s.add_mutually_exclusive_group()
    group.add_argument("--business-key")
    group.add_argument("--correlate", action="append")
    s.add_argument("--data")
    s.set_defaults(func=cmd_message)

    s = sub.add_parser("tick", parents=[common], help="déclenche les minuteries échues")
    s.set_defaults(func=cmd_tick)

    s = sub.add_parser("show", parents=[common], help="affiche une instance")
    s.add_argument("instance_id", type=int)
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("document", parents=[common], help="écrit un document d'une instance dans un fichier")
    s.add_argument("document_id", type=int)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_document)

    s = sub.add_parser("retry", parents=[common], help="relance une instance en incident")
    s.add_argument("instance_id", type=int)
    s.add_argument("--data", help="données corrigées (JSON) fusionnées dans la tâche en erreur")
    s.add_argument("--latest-definition", action="store_true",
                   help="reprendre sur la dernière version déployée de la procédure")
    s.add_argument("--as", dest="as_")
    s.set_defaults(func=cmd_retry)

    s = sub.add_parser("terminate", parents=[common], help="arrête une instance")
    s.add_argument("instance_id", type=int)
    s.add_argument("--as", dest="as_", required=True)
    s.add_argument("--reason")
    s.set_defaults(func=cmd_terminate)

    for name, resume in (("suspend", False), ("resume", True)):
        s = sub.add_parser(name, parents=[common],
                           help="reprend les délais suspendus" if resume else "suspend les délais d'une instance")
        s.add_argument("instance_id", type=int)
        s.add_argument("--as", dest="as_", required=True)
        s.add_argument("--on", help="date de suspension ou de reprise (AAAA-MM-JJ ; défaut : aujourd'hui)")
        if not resume:
            s.add_argument("--reason")
        s.set_defaults(func=lambda a, resume=resume: cmd_suspend(a, resume=resume))

    s = sub.add_parser("deadline", parents=[common], help="calcule un délai légal")
    # "-P1D" is a (negative) delay, not an option: the command explains why it is refused.
    s._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-P")
    s.add_argument("start")
    s.add_argument("delay")
    s.add_argument("--territory")
    s.add_argument("--no-extension", action="store_true")
    s.set_defaults(func=cmd_deadline)

    s = sub.add_parser("serve", parents=[common], help="application web + minuteries")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("worker", parents=[common], help="minuteries seules (workers supplémentaires)")
    s.set_defaults(func=lambda a: cmd_serve(a, web=False))
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except DeploymentError as err:
        if getattr(args, "json", False):
            print(json.dumps(err.to_json(), ensure_ascii=False, indent=2, default=str))
        else:
            print(f"erreur : {err.message}", file=sys.stderr)
        return 1
    except ArsflowError as err:
        if getattr(args, "json", False):
            print(json.dumps(err.to_json(), ensure_ascii=False, indent=2, default=str))
        else:
            extra = err.details.get("errors")
            print(f"erreur : {err.message}", file=sys.stderr)
            for key, msg in (extra or {}).items():
                print(f"  {key} : {msg}", file=sys.stderr)
        return 2 if err.code in (403, 404, 409) else 1
    except (ValueError, OverflowError, TypeError, RecursionError) as err:
        # Input that slipped past the checks above: a message, not a traceback.
        if os.environ.get("ARSFLOW_DEBUG"):
            raise
        print(f"erreur : donnée invalide ({type(err).__name__}) : {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
