"""Rulebook stage: YAML schema, loading with line-numbered errors, the default rulebook, examples and lint."""

from csqa.rulebook.loader import DEFAULT_RULEBOOK, LoadedRulebook, load_rulebook, parse_rulebook

__all__ = ["DEFAULT_RULEBOOK", "LoadedRulebook", "load_rulebook", "parse_rulebook"]
