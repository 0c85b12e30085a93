"""The learning module's request and response shapes."""
