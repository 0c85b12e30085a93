"""Django admin registrations of the insights module."""
