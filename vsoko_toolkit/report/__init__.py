"""Report layer: Russian text, tables, figures and files people read."""
