"""Local development without Docker: the template's functions, tables and key on an embedded moto."""
