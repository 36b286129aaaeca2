"""Bringing data over from other platforms (`opentr import ...`)."""
