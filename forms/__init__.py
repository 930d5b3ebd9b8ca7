"""Camunda Forms (.form) that the diagrams reference; shipped as package data."""
