"""Named SQL queries (`<file>.sql`, read by repo/queries.py) and the dev schema (`init_db.sql`), shipped as package
data."""
