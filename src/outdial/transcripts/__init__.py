"""Transcripts and recordings: their routes, and the signed, expiring links to a call's recording."""
