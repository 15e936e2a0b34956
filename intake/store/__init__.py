"""The store: ORM tables, sessions and migrations."""
