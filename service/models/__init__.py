"""Models: the catalogue of versions, the shipped manifest and aliases (catalog.py),
uploads of own models (uploads.py), what a fitted estimator is (describe.py)."""
