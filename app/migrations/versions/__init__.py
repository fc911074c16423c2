"""Migration revisions, one dated file each (`YYYY_MM_DD_<rev>_<slug>.py`)."""
