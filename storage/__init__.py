"""Storage: SQLAlchemy schema, engine factory, repositories and catalog import.

Importing this package is cheap: no database is opened and no file is read until a
function is called.
"""
