"""Django admin registrations of the ai module."""
