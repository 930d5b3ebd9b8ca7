"""Errors the engine raises to its callers (CLI, web, API), each with a French message."""


class ArsflowError(Exception):
    """Base class: `code` maps to an HTTP status / CLI exit code."""
    code = 400

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict:
        return {"error": type(self).__name__, "message": self.message, **self.details}


class NotFound(ArsflowError):
    code = 404


class Forbidden(ArsflowError):
    code = 403


class Conflict(ArsflowError):
    """The state changed under the caller (task already completed, stale version)."""
    code = 409


class InvalidInput(ArsflowError):
    code = 400


class Refused(InvalidInput):
    """A script called `refuse(message)`: the start or completion that ran it is refused as a
    whole (nothing is written), like a failing synchronous script in Camunda 7."""

    def __init__(self, message: str, **details):
        super().__init__(message, **details)


class DeploymentError(ArsflowError):
    """The linter or the parser refused a deployment; `report` holds the findings."""
    code = 400

    def __init__(self, message: str, report=None, **details):
        super().__init__(message, **details)
        self.report = report

    def to_json(self) -> dict:
        data = super().to_json()
        if self.report is not None:
            data["findings"] = self.report.to_json()
        return data


class IncidentError(ArsflowError):
    """A script, expression or service failed; the instance is in `incident`."""
    code = 422


class UnsaveableInstance(IncidentError):
    """The instance's state cannot be written (data a script or a worker left that JSON cannot
    hold): the operation is undone as a whole and, for a timer, the instance is an incident."""
