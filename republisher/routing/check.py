"""`check`: the config and every rule file valid, and every rule's [[examples]] passing.
One function for the command and for the daemon's reload, so they can never disagree."""

from __future__ import annotations

from pathlib import Path

from republisher.config import Config, load_config
from republisher.errors import ConfigError
from republisher.routing.match import ExampleFailure, failing_examples
from republisher.routing.rules import RuleSet, load_rules
from republisher.validation import shown


def check_rules(config: Config) -> tuple[RuleSet, list[ExampleFailure]]:
    """The rule files the config names (ConfigError when any is invalid), and the
    [[examples]] that fail."""
    rules = load_rules(config.rules_dir, [s.name for s in config.sources])
    return rules, failing_examples(rules.rules)


def load_checked(path: Path) -> tuple[Config, RuleSet]:
    """Config and rules that pass everything `check` checks, examples included; else
    ConfigError naming each problem."""
    config = load_config(path)
    rules, failures = check_rules(config)
    if failures:
        raise ConfigError(
            [
                f"{shown(f.rule.path)}: example {f.example.title!r} "
                f"{'is not routed' if f.example.routed else 'is routed'}, expected the opposite"
                for f in failures
            ]
        )
    return config, rules
