"""The insights module's request and response shapes."""
