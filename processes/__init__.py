"""The procedures: diagrams, decision tables, and the rules each procedure brings to its scripts."""
