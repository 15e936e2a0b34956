"""Customer organisations and their designated contacts: administration, and the
directory the pipeline reads."""
