"""Fake upstream servers: real HTTP servers on loopback that replay each vendor's wire format."""
