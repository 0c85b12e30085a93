"""Alerting: the pure rule evaluator and the notifiers."""
