"""Pages for admins under /ui/: the models, a version's live quality and drift, and the
review queue (pages.py), behind a login with the admin token (session.py)."""
from .pages import attach

__all__ = ["attach"]
