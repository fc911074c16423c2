"""SQLAlchemy models. Importing this package registers every table on `Base.metadata`."""

from app.models import core, marketing
from app.models.base import Base

__all__ = ["Base", "core", "marketing"]
