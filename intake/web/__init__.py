"""The web surface: the FastAPI app (app.py) and the operators' endpoints (ops.py)."""
