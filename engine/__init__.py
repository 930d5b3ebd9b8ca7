"""arsflow engine: runs Camunda Modeler BPMN on SpiffWorkflow, persisted with SQLAlchemy.

Knows nothing of Flask: the web app and the command line drive it through `engine.runtime`.
"""
