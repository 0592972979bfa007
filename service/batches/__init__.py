"""Files of rows: POST /api/v1/batches and its routes (routes.py), the file read and
validated whole before anything is stored (files.py)."""
