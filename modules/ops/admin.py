"""Django admin registrations of the ops module."""
