"""Package data: shipped benchmark tables and checkpoints (see PROVENANCE.md)."""
