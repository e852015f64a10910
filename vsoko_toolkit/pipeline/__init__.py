"""Pipeline: papermill runs of the chapter notebooks, the annual book, batch runs."""
