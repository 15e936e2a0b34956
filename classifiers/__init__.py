"""Triage classifier: severity and category with calibrated confidence.

Kept free of imports so that ``import classifiers`` stays cheap; the public
API lives in ``classifiers.model`` (load_model, TriageModel, Prediction,
TriageInput), ``classifiers.train`` (train), ``classifiers.evaluate``
(evaluate, render_report) and ``classifiers.api`` (classify).
"""
