"""Keeps an application database in step with school districts' OneRoster 1.1 rosters."""
