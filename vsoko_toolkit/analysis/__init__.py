"""Analyses: one public entry point per module."""
