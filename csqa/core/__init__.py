"""Shared by every stage: the records that flow between stages, errors, resource paths, memo sizes."""
