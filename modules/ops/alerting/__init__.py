"""Alerting: the pure rule evaluator (``evaluator``) and the Slack notifier (``slack``); neither
imports Django, so both are tested without a database."""
