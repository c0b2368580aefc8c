"""Records are lists of objects holding numeric values (``[{"anchor_beta": 3.0, "points": ...}]``),
never dictionaries keyed by formatted numbers (two grid values that print alike would share a
key and one result would overwrite the other). ``one`` finds an entry by its values."""


def one(rows: list[dict], **match) -> dict:
    """The single entry of ``rows`` whose fields equal ``match``; anything else is an error."""
    found = [row for row in rows if all(row.get(k) == v for k, v in match.items())]
    if len(found) != 1:
        raise ValueError(f"expected one entry with {match}, found {len(found)}")
    return found[0]
