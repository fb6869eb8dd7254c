"""The HTTP edge: what turns upstream's lenient HTTP requests into the spec's form and names them.

`wire` normalises bodies and query parameters before validation (and drops, names in `Warning`
headers or refuses unknown fields, as `fieldValidation` asks), `validators` are Connexion's
validators with messages that name the field, `routes` is the one index of the spec's routes
(for a 405's `Allow` header and the metrics' operation names).
"""
