"""The monitoring hub: a dashboard served by the gateway at ``/ui``."""
