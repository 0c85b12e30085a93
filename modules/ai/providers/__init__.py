"""AI providers behind one interface: ``claude`` (Anthropic SDK) and ``local`` (offline)."""
