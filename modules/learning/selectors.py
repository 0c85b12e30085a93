"""Read queries of the learning module (QuerySets stay inside the module; the facade returns DTOs)."""
