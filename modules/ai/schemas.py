"""The ai module's request and response shapes."""
