"""Retention: how long each organization keeps call records, transcripts and recordings; the purge."""
