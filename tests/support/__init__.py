"""Test support: fixtures, local stand-ins for the destinations and mail server, synthetic
photos."""
