"""Assembly of the web service: ``create_app`` and what it wires together."""
