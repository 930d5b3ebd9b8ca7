"""Reading, checking and running diagrams: parser, lint, definitions, expressions, sandbox, serialization."""
