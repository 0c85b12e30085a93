"""Read queries of the identity module (QuerySets stay inside the module; the facade returns DTOs)."""
