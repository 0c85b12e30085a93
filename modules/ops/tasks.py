"""The ops module's Django-Q2 task functions (thin: load, call a service)."""
