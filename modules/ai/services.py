"""The ai module's facade: the functions other modules and the module's routers call."""
