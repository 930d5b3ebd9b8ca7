"""Documents of an instance: the content-addressed store and sniffing (`store`), rows
(`records`), templates filled by the built-in `document` topic (`templates`), and the
correspondents' portal (`portal`)."""
from __future__ import annotations


def install(runtime):
    """`runtime.documents`, the `document` service topic and its effect handler (idempotent)."""
    from arsflow.engine.documents import templates
    from arsflow.engine.documents.records import Documents
    if getattr(runtime, "documents", None) is None:
        runtime.documents = Documents(runtime)
    runtime.services.register("document", lambda call: templates.document_service(call, runtime))
    runtime.effect_handlers["document"] = (
        lambda session, instance, effect, now: templates.on_document(runtime, session, instance, effect, now))
    return runtime.documents
