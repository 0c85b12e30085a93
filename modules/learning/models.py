"""The learning module's tables. Nobody outside the module imports them."""
