"""Visits as the clinic lives them: what happens around an appointment (no-shows...)."""
