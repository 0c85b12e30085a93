"""Read queries of the insights module (QuerySets stay inside the module; the facade returns DTOs)."""
