"""Alembic migrations of the governance store; run by ``bastion db upgrade`` and at start-up."""
