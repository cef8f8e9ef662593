"""Thin route modules: parse, call the session, return a schema object."""
