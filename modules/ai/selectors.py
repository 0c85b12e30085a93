"""Read queries of the ai module (QuerySets stay inside the module; the facade returns DTOs)."""
