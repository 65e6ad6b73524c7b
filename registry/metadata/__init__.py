"""Modelyard's own tables (events, associations, deployments, scoring runs) on SQLAlchemy."""
