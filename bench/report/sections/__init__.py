"""The report's sections, grouped by theme."""
