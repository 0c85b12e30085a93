"""Read queries of the ops module (QuerySets stay inside the module; the facade returns DTOs)."""
