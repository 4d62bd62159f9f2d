"""Calls: the per-call runtime (session.py), event routing and reconciliation
(registry.py), and the call records with their timeline (models.py, store.py)."""
