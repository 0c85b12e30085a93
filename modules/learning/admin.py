"""Django admin registrations of the learning module."""
