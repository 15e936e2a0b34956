"""Triage classifier: severity and category with calibrated confidence."""
